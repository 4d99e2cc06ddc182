"""q3 with one mistake: ConnectionRefusedError is not caught, so a closed port raises."""
QUESTION = "02_udp.q3"
EXPECT = {"fails": ["closed"], "hint": "refused", "passes": ["open", "silent"]}
import socket


def answer(address, timeout=0.5):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.connect(address)
        sock.send(b"probe")
        try:
            sock.recv(2048)
        except TimeoutError:
            return "silent"
        return "open"
