"""q3 with one mistake: no SO_REUSEADDR, so bind() meets the TIME_WAIT and fails."""
QUESTION = "07_options.q3"
EXPECT = {"fails": ["time-wait", "accepts", "backlog"], "hint": "reuseaddr", "passes": ["live"]}
import socket


def answer(port):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind(("127.0.0.1", port))
        sock.listen()
    except OSError:
        sock.close()
        raise
    return sock
