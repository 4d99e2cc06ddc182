"""q3 with one mistake: only the file's content is returned, without its name."""
QUESTION = "03_unix.q3"
EXPECT = {"fails": ["one-fd"], "hint": "shape", "passes": ["no-fd"]}
import os
import socket


def answer(conn):
    message, fds, _, _ = socket.recv_fds(conn, 65536, 1)
    try:
        if not fds:
            raise ValueError("no descriptor came with the message")
        parts, offset = [], 0
        while part := os.pread(fds[0], 65536, offset):
            parts.append(part)
            offset += len(part)
        return b"".join(parts)
    finally:
        for fd in fds:
            os.close(fd)
