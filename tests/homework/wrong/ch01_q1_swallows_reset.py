"""q1 with one mistake: a reset is caught and treated as the end of the stream."""
QUESTION = "01_tcp.q1"
EXPECT = {"fails": ["reset"], "hint": "reset-is-not-eof", "passes": ["plain", "eof-body"]}
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

    try:
        while True:
            header = exactly(5, start=True)
            if header is None:
                return
            kind, size = struct.unpack("!BI", header)
            if size > 1 << 20:
                raise ValueError("too long")
            yield kind, exactly(size) if size else b""
    except ConnectionResetError:
        return
