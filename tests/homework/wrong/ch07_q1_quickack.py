"""q1 with one mistake: TCP_QUICKACK on the client, which hurries the client's ACKs, not the server's."""
QUESTION = "07_options.q1"
EXPECT = {"fails": ["on", "rounds", "ipv6"], "hint": "nagle", "passes": ["unchanged"]}
import socket


def answer(sock):
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
