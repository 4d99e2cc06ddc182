"""q3 with one mistake: one recv() is taken to hold the whole reply."""
QUESTION = "01_tcp.q3"
EXPECT = {"fails": ["small", "pieces"], "hint": "read-to-end", "only": ["small", "pieces"]}
import socket


def answer(address, data):
    with socket.create_connection(address, timeout=5) as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        return sock.recv(4096)
