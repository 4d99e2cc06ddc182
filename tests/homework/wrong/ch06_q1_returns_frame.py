"""q1 with one mistake: write_utf builds the frame and returns it, and never sends it."""
QUESTION = "06_languages.q1"
EXPECT = {"fails": ["ascii"], "hint": "send-it"}
import struct


def answer(sock, text):
    body = text.encode("utf-8", "surrogatepass").replace(b"\x00", b"\xc0\x80")
    if len(body) > 65535:
        raise ValueError("too long for writeUTF")
    return struct.pack(">H", len(body)) + body


def read_utf(sock):
    (size,) = struct.unpack(">H", sock.recv(2))
    return sock.recv(size).decode()
