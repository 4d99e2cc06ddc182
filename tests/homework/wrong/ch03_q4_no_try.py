"""q4 with one mistake: the claim is parsed as if it were always a good one, so a bad one crashes."""
QUESTION = "03_unix.q4"
EXPECT = {"fails": ["garbage", "eof"], "hint": "bad-claim", "passes": ["honest", "liar"]}
import json
import os
import socket
import struct


def answer(conn):
    pid, uid, gid = struct.unpack("iII", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))
    conn.settimeout(1.0)
    line = b""
    while not line.endswith(b"\n"):
        piece = conn.recv(4096)
        if not piece:
            break
        line += piece
    claim = json.loads(line)
    return claim["pid"] == pid and uid == os.getuid()
