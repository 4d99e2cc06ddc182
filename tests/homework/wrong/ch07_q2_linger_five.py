"""q2 with one mistake: Linger(True, 5), a graceful close that waits for queued data instead of a reset."""
QUESTION = "07_options.q2"
EXPECT = {"fails": ["reset", "no-time-wait", "unsent"], "hint": "linger-zero", "passes": ["closed"]}
import socket
import struct


def answer(sock):
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 5))
    sock.close()
