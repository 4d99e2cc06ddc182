"""q2 with one mistake: the ports returned as a list, in order, instead of a dictionary by name."""
QUESTION = "00_history.q2"
EXPECT = {"fails": ["known", "many"], "hint": "dict"}
import socket


def answer(names):
    ports = []
    for name in names:
        try:
            ports.append(socket.getservbyname(name, "tcp"))
        except OSError:
            ports.append(None)
    return ports
