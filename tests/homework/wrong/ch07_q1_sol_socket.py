"""q1 with one mistake: TCP_NODELAY's number at level SOL_SOCKET, where 1 is SO_DEBUG."""
QUESTION = "07_options.q1"
EXPECT = {"fails": ["on", "rounds"], "hint": "level"}
import socket


def answer(sock):
    sock.setsockopt(socket.SOL_SOCKET, socket.TCP_NODELAY, 1)
