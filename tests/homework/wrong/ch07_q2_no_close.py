"""q2 with one mistake: SO_LINGER is set to (1, 0), but the socket is never closed."""
QUESTION = "07_options.q2"
EXPECT = {"fails": ["reset", "closed"], "hint": "close-it"}
import socket
import struct


def answer(sock):
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
