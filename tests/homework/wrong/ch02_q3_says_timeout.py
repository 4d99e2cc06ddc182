"""q3 with one mistake: a port that never answers is reported as 'timeout', not 'silent'."""
QUESTION = "02_udp.q3"
EXPECT = {"fails": ["silent"], "hint": "values", "passes": ["open", "closed"]}
import socket


def answer(address, timeout=0.5):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.connect(address)
        try:
            sock.send(b"probe")
            sock.recv(2048)
        except TimeoutError:
            return "timeout"
        except ConnectionRefusedError:
            return "closed"
        return "open"
