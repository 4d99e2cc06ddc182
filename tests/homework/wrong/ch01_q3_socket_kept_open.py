"""q3 with one mistake: the socket is kept (for later, it thinks) and never closed."""
QUESTION = "01_tcp.q3"
EXPECT = {"fails": ["closed"], "hint": "close-socket", "passes": ["small", "delay"]}
import socket

KEPT = []


def answer(address, data):
    sock = socket.create_connection(address, timeout=5)
    KEPT.append(sock)
    sock.sendall(data)
    sock.shutdown(socket.SHUT_WR)
    parts = []
    while True:
        part = sock.recv(4096)
        if not part:
            return b"".join(parts)
        parts.append(part)
