"""q4 with one mistake: struct ucred is unpacked as (uid, pid, gid); the kernel puts the pid first."""
QUESTION = "03_unix.q4"
EXPECT = {"fails": ["honest"], "hint": "peercred", "passes": ["liar"]}
import json
import os
import socket
import struct


def answer(conn):
    uid, pid, gid = struct.unpack("IiI", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))
    conn.settimeout(1.0)
    line = b""
    try:
        while not line.endswith(b"\n"):
            piece = conn.recv(4096)
            if not piece:
                return False
            line += piece
        claim = json.loads(line)
        return type(claim["pid"]) is int and claim["pid"] == pid and uid == os.getuid()
    except (OSError, ValueError, KeyError, TypeError):
        return False
