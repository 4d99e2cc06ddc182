"""q3 with one mistake: one os.read() is taken to return the whole file."""
QUESTION = "03_unix.q3"
EXPECT = {"fails": ["big"], "hint": "read-all", "passes": ["one-fd"]}
import json
import os
import socket


def answer(conn):
    message, fds, _, _ = socket.recv_fds(conn, 65536, 1)
    try:
        if not fds:
            raise ValueError("no descriptor came with the message")
        while not message.endswith(b"\n"):
            message += conn.recv(65536)
        info = json.loads(message)
        return info["name"], os.pread(fds[0], 65536, 0)
    finally:
        for fd in fds:
            os.close(fd)
