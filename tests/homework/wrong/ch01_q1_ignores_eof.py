"""q1 with one mistake: it never looks for b'', so after the last frame it loops for ever."""
QUESTION = "01_tcp.q1"
EXPECT = {"fails": ["plain"], "hint": "eof-is-the-end", "only": ["plain"]}
import struct


def answer(sock):
    buffer = b""
    while True:
        buffer += sock.recv(4096)
        while len(buffer) >= 5:
            kind, size = struct.unpack("!BI", buffer[:5])
            if len(buffer) < 5 + size:
                break
            yield kind, buffer[5:5 + size]
            buffer = buffer[5 + size:]
