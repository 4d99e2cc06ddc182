"""q1 half done: write_utf is written, but read_utf is still the stub."""
QUESTION = "06_languages.q1"
EXPECT = {"fails": ["ascii", "two"], "hint": "both-functions", "passes": ["too-long"]}
import struct


def answer(sock, text):
    body = text.encode("utf-8", "surrogatepass").replace(b"\x00", b"\xc0\x80")
    if len(body) > 65535:
        raise ValueError("too long for writeUTF")
    sock.sendall(struct.pack(">H", len(body)) + body)


def read_utf(sock):
    raise NotImplementedError("q1: write read_utf")
