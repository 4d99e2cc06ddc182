"""q3 with one mistake: fds[0] is taken without looking whether a descriptor came at all."""
QUESTION = "03_unix.q3"
EXPECT = {"fails": ["no-fd"], "hint": "no-fd", "passes": ["one-fd"]}
import json
import os
import socket


def answer(conn):
    message, fds, _, _ = socket.recv_fds(conn, 65536, 1)
    fd = fds[0]
    try:
        while not message.endswith(b"\n"):
            message += conn.recv(65536)
        info = json.loads(message)
        parts, offset = [], 0
        while part := os.pread(fd, 65536, offset):
            parts.append(part)
            offset += len(part)
        return info["name"], b"".join(parts)
    finally:
        os.close(fd)
