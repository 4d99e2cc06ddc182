"""q3 with one mistake: a fixed wait of 0.1 s instead of the timeout it is given."""
QUESTION = "02_udp.q3"
EXPECT = {"fails": ["slow"], "hint": "wait", "passes": ["open", "closed", "silent"]}
import socket


def answer(address, timeout=0.5):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(0.1)
        sock.connect(address)
        try:
            sock.send(b"probe")
            sock.recv(2048)
        except TimeoutError:
            return "silent"
        except ConnectionRefusedError:
            return "closed"
        return "open"
