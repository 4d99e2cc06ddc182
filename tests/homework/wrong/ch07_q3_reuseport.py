"""q3 with one mistake: SO_REUSEPORT beside SO_REUSEADDR, which lets it share a live server's port."""
QUESTION = "07_options.q3"
EXPECT = {"fails": ["live"], "hint": "reuseport", "passes": ["time-wait", "loopback", "accepts", "backlog", "twice"]}
import socket


def answer(port):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(("127.0.0.1", port))
        sock.listen()
    except OSError:
        sock.close()
        raise
    return sock
