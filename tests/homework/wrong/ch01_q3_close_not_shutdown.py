"""q3 with one mistake: close() instead of a half-close, so the reply has nowhere to go."""
QUESTION = "01_tcp.q3"
EXPECT = {"fails": ["small"], "hint": "close-too-early", "only": ["small"]}
import socket


def answer(address, data):
    sock = socket.create_connection(address, timeout=5)
    sock.sendall(data)
    sock.close()
    return b""
