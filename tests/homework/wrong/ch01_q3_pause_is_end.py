"""q3 with one mistake: a short pause is taken for the end of the reply."""
QUESTION = "01_tcp.q3"
EXPECT = {"fails": ["small", "delay"], "hint": "read-to-end"}
import socket


def answer(address, data):
    with socket.create_connection(address, timeout=5) as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        sock.settimeout(0.01)
        parts = []
        while True:
            try:
                part = sock.recv(4096)
            except socket.timeout:
                break
            if not part:
                break
            parts.append(part)
        return b"".join(parts)
