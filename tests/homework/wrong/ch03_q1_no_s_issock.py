"""q1 with one mistake: a refused connect() is taken to mean "stale socket", also for a regular file."""
QUESTION = "03_unix.q1"
EXPECT = {"fails": ["regular-file"], "hint": "not-a-socket", "passes": ["stale", "live"]}
import errno
import os
import socket


def answer(path):
    if len(os.fsencode(path)) > 107:
        raise ValueError("path too long for sun_path")
    if os.path.lexists(path):
        with socket.socket(socket.AF_UNIX) as probe:
            probe.settimeout(0.5)
            try:
                probe.connect(path)
            except ConnectionRefusedError:
                os.unlink(path)
            else:
                raise OSError(errno.EADDRINUSE, "in use", path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(path)
    sock.listen()
    return sock
