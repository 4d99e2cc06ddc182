"""q3 with one mistake: SO_REUSEADDR turned off once it listens, so its own TIME_WAIT blocks the next restart."""
QUESTION = "07_options.q3"
EXPECT = {"fails": ["twice"], "hint": "keep-reuse", "passes": ["time-wait", "loopback", "accepts", "live", "backlog"]}
import socket


def answer(port):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        sock.listen()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 0)  # "only bind() and listen() needed it"
    except OSError:
        sock.close()
        raise
    return sock
