"""q1 with one mistake: an empty body is read with recv(0), whose b'' is taken for the peer closing."""
QUESTION = "01_tcp.q1"
EXPECT = {"fails": ["empty"], "hint": "empty-body", "passes": ["plain", "chunk1", "eof-body"]}
import struct


def answer(sock):
    def exactly(n, start=False):
        data = b""
        while True:
            piece = sock.recv(min(n - len(data), 65536))
            if not piece:
                if start and not data or n == 0:
                    return None
                raise ConnectionError("cut short")
            data += piece
            if len(data) == n:
                return data

    while True:
        header = exactly(5, start=True)
        if header is None:
            return
        kind, size = struct.unpack("!BI", header)
        if size > 1 << 20:
            raise ValueError("too long")
        body = exactly(size)
        if body is None:
            return
        yield kind, body
