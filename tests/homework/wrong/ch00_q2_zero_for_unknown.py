"""q2 with one mistake: 0 stored for a name without a TCP port, where None belongs."""
QUESTION = "00_history.q2"
EXPECT = {"fails": ["unknown"], "hint": "catch-oserror", "passes": ["known", "two-calls"]}
import socket


def answer(names):
    ports = {}
    for name in names:
        try:
            ports[name] = socket.getservbyname(name, "tcp")
        except OSError:
            ports[name] = 0
    return ports
