"""q1 with one mistake: the 65,535 limit is checked on the number of characters, not of bytes."""
QUESTION = "06_languages.q1"
EXPECT = {"fails": ["too-long"], "hint": "count-bytes", "passes": ["ascii", "accents"]}
import struct


def answer(sock, text):
    if len(text) > 65535:
        raise ValueError("too long for writeUTF")
    body = text.encode("utf-16-be", "surrogatepass").decode("utf-16-be", "surrogatepass")
    body = "".join(c if ord(c) <= 0xFFFF else chr(0xD800 + ((ord(c) - 0x10000) >> 10))
                   + chr(0xDC00 + ((ord(c) - 0x10000) & 0x3FF)) for c in body)
    body = body.encode("utf-8", "surrogatepass").replace(b"\x00", b"\xc0\x80")
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
