"""q2 with one mistake: shutdown() only, which sends FIN and keeps the socket open."""
QUESTION = "07_options.q2"
EXPECT = {"fails": ["reset", "closed", "no-time-wait"], "hint": "no-shutdown"}
import socket


def answer(sock):
    sock.shutdown(socket.SHUT_RDWR)
