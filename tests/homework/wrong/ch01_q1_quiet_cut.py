"""q1 with one mistake: b'' anywhere is taken as a clean end, even inside a frame."""
QUESTION = "01_tcp.q1"
EXPECT = {"fails": ["eof-header", "eof-body"], "hint": "eof-mid-frame", "passes": ["plain", "chunk1"]}
import struct


def answer(sock):
    def exactly(n):
        data = b""
        while len(data) < n:
            piece = sock.recv(n - len(data))
            if not piece:
                return None
            data += piece
        return data

    while True:
        header = exactly(5)
        if header is None:
            return
        kind, size = struct.unpack("!BI", header)
        if size > 1 << 20:
            raise ValueError("too long")
        body = exactly(size) if size else b""
        if body is None:
            return
        yield kind, body
