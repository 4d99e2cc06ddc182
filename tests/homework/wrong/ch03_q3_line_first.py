"""q3 with one mistake: the line is read with makefile() first, which throws the descriptor away."""
QUESTION = "03_unix.q3"
EXPECT = {"fails": ["one-fd"], "hint": "recv-fds", "only": ["one-fd"]}
import json
import os
import socket


def answer(conn):
    with conn.makefile("rb") as lines:
        info = json.loads(lines.readline())
    _, fds, _, _ = socket.recv_fds(conn, 1, 1)
    try:
        return info["name"], os.pread(fds[0], info["size"], 0)
    finally:
        for fd in fds:
            os.close(fd)
