"""q3 with one mistake: it makes room for several descriptors but closes only the one it uses."""
QUESTION = "03_unix.q3"
EXPECT = {"fails": ["two-fds"], "hint": "extra-fds", "passes": ["one-fd", "closed"]}
import json
import os
import socket


def answer(conn):
    message, fds, _, _ = socket.recv_fds(conn, 65536, 4)
    if not fds:
        raise ValueError("no descriptor came with the message")
    try:
        while not message.endswith(b"\n"):
            message += conn.recv(65536)
        info = json.loads(message)
        parts, offset = [], 0
        while part := os.pread(fds[0], 65536, offset):
            parts.append(part)
            offset += len(part)
        return info["name"], b"".join(parts)
    finally:
        os.close(fds[0])
