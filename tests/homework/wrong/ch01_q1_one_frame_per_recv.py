"""q1 with one mistake: each recv() is taken to hold exactly one frame, and what follows it is lost."""
QUESTION = "01_tcp.q1"
EXPECT = {"fails": ["coalesced"], "hint": "partial-recv", "only": ["coalesced"]}
import struct


def answer(sock):
    while True:
        data = sock.recv(65536)
        if not data:
            return
        kind, size = struct.unpack("!BI", data[:5])
        if size > 1 << 20:
            raise ValueError("too long")
        yield kind, data[5:5 + size]
