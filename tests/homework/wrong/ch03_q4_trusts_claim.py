"""q4 with one mistake: the pid the client claims is believed; only the user is checked."""
QUESTION = "03_unix.q4"
EXPECT = {"fails": ["liar", "crowd"], "hint": "trust-kernel", "passes": ["honest", "eof"]}
import json
import os
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
        return isinstance(claim["pid"], int) and uid == os.getuid()
    except (OSError, ValueError, KeyError, TypeError):
        return False
