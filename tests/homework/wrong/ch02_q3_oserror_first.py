"""q3 with one mistake: `except OSError` comes first, and a timeout is an OSError too."""
QUESTION = "02_udp.q3"
EXPECT = {"fails": ["silent"], "hint": "except-order", "passes": ["open", "closed"]}
import socket


def answer(address, timeout=0.5):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.connect(address)
        try:
            sock.send(b"probe")
            sock.recv(2048)
        except OSError:  # ConnectionRefusedError, the ICMP error
            return "closed"
        except TimeoutError:
            return "silent"
        return "open"
