"""q3 with one mistake: one recv() is taken to hold the whole stream."""
QUESTION = "06_languages.q3"
EXPECT = {"fails": ["pieces"], "hint": "partial-recv", "passes": ["mild", "signed", "cut", "no-magic"]}
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
    data = sock.recv(65536)
    if data[:4] != b"READ":
        raise ValueError("no magic record")
    if len(data) % 8:
        raise ValueError("a record cut short")
    return [Reading(*struct.unpack("!IhH", data[i:i + 8])) for i in range(8, len(data), 8)]
