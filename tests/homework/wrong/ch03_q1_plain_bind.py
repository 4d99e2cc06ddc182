"""q1 with one mistake: a plain bind(), as if nothing could be in the way."""
QUESTION = "03_unix.q1"
EXPECT = {"fails": ["stale", "too-long", "too-long-bytes"], "hint": "remove-stale",
          "passes": ["fresh", "live", "regular-file", "busy"]}
import socket


def answer(path):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(path)
        sock.listen()
    except OSError:
        sock.close()
        raise
    return sock
