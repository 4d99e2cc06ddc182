"""q2 with one mistake: a name without a TCP port is left out of the dictionary instead of mapped to None."""
QUESTION = "00_history.q2"
EXPECT = {"fails": ["unknown", "udp-only"], "hint": "catch-oserror", "passes": ["known", "two-calls"]}
import socket


def answer(names):
    ports = {}
    for name in names:
        try:
            ports[name] = socket.getservbyname(name, "tcp")
        except OSError:
            pass
    return ports
