"""q3 with one mistake: when bind() fails, the error goes on but the socket stays open."""
QUESTION = "07_options.q3"
EXPECT = {"fails": ["live"], "hint": "raise", "passes": ["time-wait", "accepts"]}
import socket

_tried = []  # every socket made, as a server keeps its listeners


def answer(port):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    _tried.append(sock)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen()
    return sock
