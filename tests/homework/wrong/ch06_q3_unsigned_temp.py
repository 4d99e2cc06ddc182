"""q3 with one mistake: temp_centi is unpacked unsigned ('H'), so -40.00 degrees reads as 61536."""
QUESTION = "06_languages.q3"
EXPECT = {"fails": ["signed"], "hint": "signed", "passes": ["mild", "cut", "no-magic"]}
import struct
from collections import namedtuple

Reading = namedtuple("Reading", ["seq", "temp_centi", "flags"])


def _read_all(sock):
    data = b""
    while True:
        piece = sock.recv(65536)
        if not piece:
            return data
        data += piece


def answer(sock):
    data = _read_all(sock)
    if data[:4] != b"READ":
        raise ValueError("no magic record")
    if len(data) % 8:
        raise ValueError("a record cut short")
    return [Reading(*struct.unpack("!IHH", data[i:i + 8])) for i in range(8, len(data), 8)]
