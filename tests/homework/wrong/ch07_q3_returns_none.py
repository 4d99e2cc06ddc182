"""q3 with one mistake: a failed bind() is swallowed and None returned."""
QUESTION = "07_options.q3"
EXPECT = {"fails": ["live"], "hint": "raise", "passes": ["time-wait", "accepts"]}
import socket


def answer(port):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", port))
    except OSError:
        sock.close()
        return None
    sock.listen()
    return sock
