"""q1 with one mistake: read_utf returns an emoji as its two surrogates, never joined into one character."""
QUESTION = "06_languages.q1"
EXPECT = {"fails": ["emoji"], "hint": "decode", "passes": ["ascii", "nul", "chunk1"]}
import struct


def _units(text):
    out = []
    for char in text:
        value = ord(char)
        if value > 0xFFFF:
            value -= 0x10000
            out += [chr(0xD800 + (value >> 10)), chr(0xDC00 + (value & 0x3FF))]
        else:
            out.append(char)
    return "".join(out)


def answer(sock, text):
    body = _units(text).encode("utf-8", "surrogatepass").replace(b"\x00", b"\xc0\x80")
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
    return _recv_exactly(sock, size).replace(b"\xc0\x80", b"\x00").decode("utf-8", "surrogatepass")
