"""q1 with one mistake: read_utf reads whatever has arrived, up to 65,537 bytes, and keeps only its string."""
QUESTION = "06_languages.q1"
EXPECT = {"fails": ["two"], "hint": "own-frame-only", "passes": ["ascii", "accents", "nul", "emoji"]}
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
    data = sock.recv(65537)
    (size,) = struct.unpack(">H", data[:2])
    body = data[2:2 + size].replace(b"\xc0\x80", b"\x00")
    return body.decode("utf-8", "surrogatepass").encode("utf-16", "surrogatepass").decode("utf-16")
