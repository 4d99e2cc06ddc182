"""q1 with one mistake: the header is read whole, the body with one recv(), so a big body comes back short."""
QUESTION = "01_tcp.q1"
EXPECT = {"fails": ["megabyte"], "hint": "partial-recv", "passes": ["plain", "coalesced", "eof-header"]}
import struct


def answer(sock):
    def exactly(n):
        data = b""
        while len(data) < n:
            piece = sock.recv(n - len(data))
            if not piece:
                if not data:
                    return None
                raise ConnectionError("cut short")
            data += piece
        return data

    while True:
        header = exactly(5)
        if header is None:
            return
        kind, size = struct.unpack("!BI", header)
        if size > 1 << 20:
            raise ValueError("too long")
        body = sock.recv(size) if size else b""
        yield kind, body
