"""q2 with one mistake: each port stored as text, '7' where the int 7 belongs."""
QUESTION = "00_history.q2"
EXPECT = {"fails": ["known", "many"], "hint": "int"}
import socket


def answer(names):
    ports = {}
    for name in names:
        try:
            ports[name] = str(socket.getservbyname(name, "tcp"))
        except OSError:
            ports[name] = None
    return ports
