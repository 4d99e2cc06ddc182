"""q3 with one mistake: the first record is skipped as the magic without looking at it."""
QUESTION = "06_languages.q3"
EXPECT = {"fails": ["no-magic", "little", "silent"], "hint": "check-magic", "passes": ["mild", "signed", "cut"]}
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
    if len(data) % 8:
        raise ValueError("a record cut short")
    return [Reading(*struct.unpack("!IhH", data[i:i + 8])) for i in range(8, len(data), 8)]
