"""q3 with one mistake: no timeout, so a silent port is waited for forever."""
QUESTION = "02_udp.q3"
EXPECT = {"fails": ["silent"], "hint": "timeout", "passes": ["open", "closed"]}
import socket


def answer(address, timeout=0.5):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.connect(address)
        try:
            sock.send(b"probe")
            sock.recv(2048)
        except ConnectionRefusedError:
            return "closed"
        return "open"
