"""q4 with one mistake: the pid is compared with the kernel's, but the user is not."""
QUESTION = "03_unix.q4"
EXPECT = {"fails": ["other-user"], "hint": "same-uid", "passes": ["liar"]}
import json
import socket
import struct


def answer(conn):
    pid, uid, gid = struct.unpack("iII", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))
    conn.settimeout(1.0)
    line = b""
    try:
        while not line.endswith(b"\n"):
            piece = conn.recv(4096)
            if not piece:
                return False
            line += piece
        claim = json.loads(line)
        return type(claim["pid"]) is int and claim["pid"] == pid
    except (OSError, ValueError, KeyError, TypeError):
        return False
