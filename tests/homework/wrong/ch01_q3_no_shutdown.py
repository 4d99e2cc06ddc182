"""q3 with one mistake: it waits for the reply without telling the server it is done."""
QUESTION = "01_tcp.q3"
EXPECT = {"fails": ["small"], "hint": "half-close", "only": ["small"]}
import socket


def answer(address, data):
    with socket.create_connection(address) as sock:
        sock.sendall(data)
        return sock.recv(4096)
