"""q3 with one mistake: listen(1), an accept queue of two on Linux."""
QUESTION = "07_options.q3"
EXPECT = {"fails": ["backlog"], "hint": "backlog", "passes": ["time-wait", "loopback", "accepts", "live"]}
import socket


def answer(port):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        sock.listen(1)
    except OSError:
        sock.close()
        raise
    return sock
