"""q3 with one mistake: SO_REUSEPORT instead of SO_REUSEADDR, which does not pass a TIME_WAIT."""
QUESTION = "07_options.q3"
EXPECT = {"fails": ["time-wait"], "hint": "reuseaddr"}
import socket


def answer(port):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(("127.0.0.1", port))
        sock.listen()
    except OSError:
        sock.close()
        raise
    return sock
