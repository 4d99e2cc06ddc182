"""q3 with one mistake: the received descriptor is never closed."""
QUESTION = "03_unix.q3"
EXPECT = {"fails": ["closed", "two-fds"], "hint": "close-fd", "passes": ["one-fd", "split"]}
import json
import os
import socket


def answer(conn):
    message, fds, _, _ = socket.recv_fds(conn, 65536, 1)
    if not fds:
        raise ValueError("no descriptor came with the message")
    while not message.endswith(b"\n"):
        message += conn.recv(65536)
    info = json.loads(message)
    parts, offset = [], 0
    while part := os.pread(fds[0], 65536, offset):
        parts.append(part)
        offset += len(part)
    return info["name"], b"".join(parts)
