"""q3 with one mistake: connect() and then wait to hear, as with TCP; but nothing was ever sent."""
QUESTION = "02_udp.q3"
EXPECT = {"fails": ["open"], "hint": "send", "only": ["open"]}
import socket


def answer(address, timeout=0.5):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect(address)
            sock.recv(2048)
        except TimeoutError:
            return "silent"
        except ConnectionRefusedError:
            return "closed"
        return "open"
