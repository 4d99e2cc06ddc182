"""q1 with one mistake: TCP_NODELAY and TCP_CORK, which holds partial segments back for up to 200 ms."""
QUESTION = "07_options.q1"
EXPECT = {"fails": ["rounds", "unchanged"], "hint": "only-nodelay", "passes": ["on"]}
import socket


def answer(sock):
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)
