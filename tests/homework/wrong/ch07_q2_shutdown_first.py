"""q2 with one mistake: shutdown() before the abort, so the peer reads FIN before the reset."""
QUESTION = "07_options.q2"
EXPECT = {"fails": ["reset", "peer-fin"], "hint": "no-shutdown", "passes": ["closed", "no-time-wait"]}
import socket
import struct


def answer(sock):
    sock.shutdown(socket.SHUT_WR)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()
