"""q4 with one mistake: one recv() is taken to hold the whole claim."""
QUESTION = "03_unix.q4"
EXPECT = {"fails": ["pieces"], "hint": "whole-line", "passes": ["honest", "garbage"]}
import json
import os
import socket
import struct


def answer(conn):
    pid, uid, gid = struct.unpack("iII", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))
    conn.settimeout(1.0)
    try:
        claim = json.loads(conn.recv(4096))
        return type(claim["pid"]) is int and claim["pid"] == pid and uid == os.getuid()
    except (OSError, ValueError, KeyError, TypeError):
        return False
