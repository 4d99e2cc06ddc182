"""q1 with one mistake: a live server is reported with print() and None, not with an error."""
QUESTION = "03_unix.q1"
EXPECT = {"fails": ["live", "busy"], "hint": "in-use-error", "passes": ["stale", "regular-file"]}
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
            probe.settimeout(0.5)
            try:
                probe.connect(path)
            except ConnectionRefusedError:
                os.unlink(path)
            except OSError:
                print("a server is busy there")
                return None
            else:
                print("a server is already running there")
                return None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(path)
    sock.listen()
    return sock
