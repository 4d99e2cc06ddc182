"""q1 with one mistake: no length check; struct.pack refuses the length, with struct.error."""
QUESTION = "06_languages.q1"
EXPECT = {"fails": ["too-long"], "hint": "too-long", "passes": ["ascii"]}
import struct


def answer(sock, text):
    body = text.encode("utf-8", "surrogatepass").replace(b"\x00", b"\xc0\x80")
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
    return _recv_exactly(sock, size).replace(b"\xc0\x80", b"\x00").decode("utf-8", "surrogatepass")
