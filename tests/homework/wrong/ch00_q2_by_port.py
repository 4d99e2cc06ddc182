"""q2 with one mistake: getservbyport() called where getservbyname() belongs (a name is no port number)."""
QUESTION = "00_history.q2"
EXPECT = {"fails": ["known", "unknown"], "hint": "getservbyname"}
import socket


def answer(names):
    ports = {}
    for name in names:
        try:
            ports[name] = socket.getservbyport(name, "tcp")
        except OSError:
            ports[name] = None
    return ports
