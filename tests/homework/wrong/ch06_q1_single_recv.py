"""q1 with one mistake: read_utf takes recv(size) to return the whole body at once."""
QUESTION = "06_languages.q1"
EXPECT = {"fails": ["chunk1"], "hint": "read-exact", "passes": ["ascii", "accents", "nul", "emoji", "two"]}
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


def read_utf(sock):
    (size,) = struct.unpack(">H", sock.recv(2))
    body = sock.recv(size).replace(b"\xc0\x80", b"\x00")
    return body.decode("utf-8", "surrogatepass").encode("utf-16", "surrogatepass").decode("utf-16")
