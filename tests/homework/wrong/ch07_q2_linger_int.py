"""q2 with one mistake: SO_LINGER given a plain int, where the kernel wants a struct linger."""
QUESTION = "07_options.q2"
EXPECT = {"fails": ["reset"], "hint": "layout"}
import socket


def answer(sock):
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, 1)
    sock.close()
