"""q1 with one mistake: whatever is at the path is unlinked, without asking whether a server lives there."""
QUESTION = "03_unix.q1"
EXPECT = {"fails": ["live", "regular-file", "busy"], "hint": "probe-first", "passes": ["stale", "too-long"]}
import os
import socket


def answer(path):
    if len(os.fsencode(path)) > 107:
        raise ValueError("path too long for sun_path")
    if os.path.lexists(path):
        os.unlink(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(path)
    sock.listen()
    return sock
