"""q3 with one mistake: send() instead of sendall(), so a big upload goes out only in part."""
QUESTION = "01_tcp.q3"
EXPECT = {"fails": ["big"], "hint": "send-everything", "passes": ["small", "delay"]}
import socket


def answer(address, data):
    with socket.create_connection(address, timeout=5) as sock:
        sock.send(data)
        sock.shutdown(socket.SHUT_WR)
        parts = []
        while True:
            part = sock.recv(4096)
            if not part:
                return b"".join(parts)
            parts.append(part)
