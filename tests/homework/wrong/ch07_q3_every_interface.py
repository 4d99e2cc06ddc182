"""q3 with one mistake: bind(('', port)), every interface; the check refuses the bind before it happens."""
QUESTION = "07_options.q3"
EXPECT = {"fails": ["time-wait", "loopback", "live"], "hint": "loopback"}
import socket


def answer(port):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("", port))
        sock.listen()
    except OSError:
        sock.close()
        raise
    return sock
