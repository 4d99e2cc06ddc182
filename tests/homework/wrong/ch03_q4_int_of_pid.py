"""q4 with one mistake: int() of the claimed pid, which takes "1234" and 1234.0 for the integer 1234."""
QUESTION = "03_unix.q4"
EXPECT = {"fails": ["typed-pid"], "hint": "int-pid", "passes": ["honest", "liar", "garbage"]}
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
        return int(claim["pid"]) == pid and uid == os.getuid()
    except (OSError, ValueError, KeyError, TypeError):
        return False
