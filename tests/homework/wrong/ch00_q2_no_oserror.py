"""q2 with one mistake: getservbyname()'s OSError for an unknown name is not caught."""
QUESTION = "00_history.q2"
EXPECT = {"fails": ["unknown", "udp-only"], "hint": "catch-oserror", "passes": ["known"]}
import socket


def answer(names):
    return {name: socket.getservbyname(name, "tcp") for name in names}
