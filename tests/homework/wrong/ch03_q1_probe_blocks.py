"""q1 with one mistake: the probe connect() has no timeout, so a busy server makes it wait for ever."""
QUESTION = "03_unix.q1"
EXPECT = {"fails": ["busy"], "hint": "probe-timeout", "passes": ["live"]}
import errno
import os
import socket
import stat


def answer(path):
    if len(os.fsencode(path)) > 107:
        raise ValueError("path too long for sun_path")
    if os.path.lexists(path):
        if not stat.S_ISSOCK(os.stat(path).st_mode):
            raise FileExistsError(errno.EEXIST, "not a socket", path)
        with socket.socket(socket.AF_UNIX) as probe:
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
