"""q1 with one mistake: `with sock:` sets the option, then closes the socket on the way out."""
QUESTION = "07_options.q1"
EXPECT = {"fails": ["on", "rounds", "unchanged"], "hint": "in-place"}
import socket


def answer(sock):
    with sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
