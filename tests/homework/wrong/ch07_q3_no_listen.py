"""q3 with one mistake: bound with SO_REUSEADDR, but listen() is never called."""
QUESTION = "07_options.q3"
EXPECT = {"fails": ["time-wait", "accepts"], "hint": "listen", "passes": ["live"]}
import socket


def answer(port):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", port))
    except OSError:
        sock.close()
        raise
    return sock
