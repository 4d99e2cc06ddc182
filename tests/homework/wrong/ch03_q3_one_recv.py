"""q3 with one mistake: the message from recv_fds() is taken to be the whole line."""
QUESTION = "03_unix.q3"
EXPECT = {"fails": ["split"], "hint": "whole-line", "passes": ["one-fd"]}
import json
import os
import socket


def answer(conn):
    message, fds, _, _ = socket.recv_fds(conn, 65536, 1)
    try:
        if not fds:
            raise ValueError("no descriptor came with the message")
        info = json.loads(message)
        parts, offset = [], 0
        while part := os.pread(fds[0], 65536, offset):
            parts.append(part)
            offset += len(part)
        return info["name"], b"".join(parts)
    finally:
        for fd in fds:
            os.close(fd)
