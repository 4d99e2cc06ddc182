"""q1 with one mistake: TCP_NODELAY, and bigger buffers for good measure (a change nobody asked for)."""
QUESTION = "07_options.q1"
EXPECT = {"fails": ["unchanged"], "hint": "only-nodelay", "passes": ["on", "rounds"]}
import socket


def answer(sock):
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
