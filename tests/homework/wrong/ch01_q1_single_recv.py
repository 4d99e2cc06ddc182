"""q1 with one mistake: recv(n) taken to return exactly n bytes."""
QUESTION = "01_tcp.q1"
EXPECT = {"fails": ["chunk1"], "hint": "partial-recv", "passes": ["plain", "coalesced", "too-long"]}
import struct


def answer(sock):
    while True:
        header = sock.recv(5)
        if not header:
            return
        kind, size = struct.unpack("!BI", header)
        if size > 1 << 20:
            raise ValueError("too long")
        yield kind, sock.recv(size)
