"""q2 with one mistake: getservbyname(name) without 'tcp', which answers for UDP too."""
QUESTION = "00_history.q2"
EXPECT = {"fails": ["udp-only"], "hint": "tcp-only", "passes": ["known", "unknown", "two-calls"]}
import socket


def answer(names):
    ports = {}
    for name in names:
        try:
            ports[name] = socket.getservbyname(name)
        except OSError:
            ports[name] = None
    return ports
