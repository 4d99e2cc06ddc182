"""q1 with one mistake: plain UTF-8 (str.encode), as if Java wrote what Python writes."""
QUESTION = "06_languages.q1"
EXPECT = {"fails": ["nul", "emoji"], "hint": "nul", "passes": ["ascii", "accents", "chunk1", "two"]}
import struct


def answer(sock, text):
    body = text.encode("utf-8")
    if len(body) > 65535:
        raise ValueError("too long for writeUTF")
    sock.sendall(struct.pack(">H", len(body)) + body)


def _recv_exactly(sock, size):
    data = b""
    while len(data) < size:
        piece = sock.recv(size - len(data))
        if not piece:
            raise ConnectionError("closed early")
        data += piece
    return data


def read_utf(sock):
    (size,) = struct.unpack(">H", _recv_exactly(sock, 2))
    body = _recv_exactly(sock, size).replace(b"\xc0\x80", b"\x00")
    return body.decode("utf-8", "surrogatepass").encode("utf-16", "surrogatepass").decode("utf-16")
