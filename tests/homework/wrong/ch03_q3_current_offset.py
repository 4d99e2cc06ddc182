"""q3 with one mistake: the file is read from where the shared offset stands, not from byte 0."""
QUESTION = "03_unix.q3"
EXPECT = {"fails": ["offset"], "hint": "shared-offset", "passes": ["one-fd"]}
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
        parts = []
        while part := os.read(fds[0], 65536):
            parts.append(part)
        return info["name"], b"".join(parts)
    finally:
        for fd in fds:
            os.close(fd)
