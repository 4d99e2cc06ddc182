"""q1 with one mistake: frames are yielded as [kind, body] lists, with the body decoded to text."""
QUESTION = "01_tcp.q1"
EXPECT = {"fails": ["plain"], "hint": "shape", "only": ["plain"]}
import struct


def answer(sock):
    buffer = b""
    while True:
        piece = sock.recv(65536)
        if not piece:
            return
        buffer += piece
        while len(buffer) >= 5:
            kind, size = struct.unpack("!BI", buffer[:5])
            if len(buffer) < 5 + size:
                break
            yield [kind, buffer[5:5 + size].decode()]
            buffer = buffer[5 + size:]
