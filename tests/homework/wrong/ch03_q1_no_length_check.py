"""q1 with one mistake: no length check, so Python's own OSError ("AF_UNIX path too long") comes out."""
QUESTION = "03_unix.q1"
EXPECT = {"fails": ["too-long", "too-long-bytes"], "hint": "path-length", "passes": ["stale", "live"]}
import errno
import os
import socket
import stat


def answer(path):
    if os.path.lexists(path):
        if not stat.S_ISSOCK(os.stat(path).st_mode):
            raise FileExistsError(errno.EEXIST, "not a socket", path)
        with socket.socket(socket.AF_UNIX) as probe:
            probe.settimeout(0.5)
            try:
                probe.connect(path)
            except ConnectionRefusedError:
                os.unlink(path)
            else:
                raise OSError(errno.EADDRINUSE, "in use", path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(path)
        sock.listen()
    except OSError:
        sock.close()
        raise
    return sock
