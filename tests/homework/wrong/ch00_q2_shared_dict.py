"""q2 with one mistake: one dictionary for every call, made outside the function, so earlier names stay in it."""
QUESTION = "00_history.q2"
EXPECT = {"fails": ["two-calls"], "hint": "fresh", "passes": ["known"]}
import socket

ports = {}


def answer(names):
    for name in names:
        try:
            ports[name] = socket.getservbyname(name, "tcp")
        except OSError:
            ports[name] = None
    return ports
