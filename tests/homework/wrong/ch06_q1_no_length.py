"""q1 with one mistake: the body goes out without the 2-byte length in front."""
QUESTION = "06_languages.q1"
EXPECT = {"fails": ["ascii"], "hint": "length-prefix", "passes": ["too-long"]}
import struct


def answer(sock, text):
    body = text.encode("utf-8", "surrogatepass").replace(b"\x00", b"\xc0\x80")
    if len(body) > 65535:
        raise ValueError("too long for writeUTF")
    sock.sendall(body)


def read_utf(sock):
    (size,) = struct.unpack(">H", sock.recv(2))
    return sock.recv(size).decode()
