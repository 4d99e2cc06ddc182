"""q3 with one mistake: an empty stream is taken for a sensor with nothing to say, not for a missing magic."""
QUESTION = "06_languages.q3"
EXPECT = {"fails": ["silent"], "hint": "check-magic", "passes": ["mild", "cut", "no-magic", "little"]}
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
    if not data:
        return []
    order = {b"READ": "!", b"DAER": "<"}.get(data[:4])
    if order is None:
        raise ValueError("no magic record")
    if len(data) % 8:
        raise ValueError("a record cut short")
    return [Reading(*struct.unpack(order + "IhH", data[i:i + 8])) for i in range(8, len(data), 8)]
