"""q1 with one mistake: the length test is off by one, so a path of exactly 107 bytes (which fits) is refused."""
QUESTION = "03_unix.q1"
EXPECT = {"fails": ["fits"], "hint": "longest-fits", "passes": ["fresh", "too-long", "too-long-bytes"]}
import errno
import os
import socket
import stat


def answer(path):
    if len(os.fsencode(path)) >= 107:
        raise ValueError("path too long for sun_path")
    if os.path.lexists(path):
        if not stat.S_ISSOCK(os.stat(path).st_mode):
            raise FileExistsError(errno.EEXIST, "not a socket", path)
        with socket.socket(socket.AF_UNIX) as probe:
            probe.settimeout(0.5)
            try:
                probe.connect(path)
            except ConnectionRefusedError:
                os.unlink(path)
            except OSError:
                raise OSError(errno.EADDRINUSE, "busy", path) from None
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
