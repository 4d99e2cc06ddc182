"""q3 with one mistake: bytes left over after the last whole record are dropped without a word."""
QUESTION = "06_languages.q3"
EXPECT = {"fails": ["cut"], "hint": "partial-record", "passes": ["mild", "signed", "pieces", "no-magic"]}
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
    return [Reading(*struct.unpack("!IhH", data[i:i + 8])) for i in range(8, len(data) - 7, 8)]
