"""q4 with one mistake: no timeout, so a client that says nothing holds authorize() for ever."""
QUESTION = "03_unix.q4"
EXPECT = {"fails": ["silent"], "hint": "claim-timeout", "only": ["silent"]}
import json
import os
import socket
import struct


def answer(conn):
    pid, uid, gid = struct.unpack("iII", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))
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
