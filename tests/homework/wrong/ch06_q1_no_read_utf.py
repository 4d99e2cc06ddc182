"""q1 with one mistake: the reading half is there, but under another name than read_utf."""
QUESTION = "06_languages.q1"
EXPECT = {"fails": ["ascii", "two"], "hint": "both-functions", "passes": ["too-long"]}
import struct


def answer(sock, text):
    body = text.encode("utf-8", "surrogatepass").replace(b"\x00", b"\xc0\x80")
    if len(body) > 65535:
        raise ValueError("too long for writeUTF")
    sock.sendall(struct.pack(">H", len(body)) + body)


def read_string(sock):
    (size,) = struct.unpack(">H", sock.recv(2))
    return sock.recv(size).decode()
