"""q1 with one mistake: the announced length is checked only after the body has been read."""
QUESTION = "01_tcp.q1"
EXPECT = {"fails": ["too-long"], "hint": "check-first", "passes": ["plain"]}
import struct


def answer(sock):
    def exactly(n, start=False):
        data = b""
        while len(data) < n:
            piece = sock.recv(min(n - len(data), 65536))
            if not piece:
                if start and not data:
                    return None
                raise ConnectionError("cut short")
            data += piece
        return data

    while True:
        header = exactly(5, start=True)
        if header is None:
            return
        kind, size = struct.unpack("!BI", header)
        body = exactly(size) if size else b""
        if size > 1 << 20:
            raise ValueError("too long")
        yield kind, body
