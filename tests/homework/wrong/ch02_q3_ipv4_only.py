"""q3 with one mistake: the socket is always AF_INET, so an IPv6 address cannot be probed."""
QUESTION = "02_udp.q3"
EXPECT = {"fails": ["ipv6"], "hint": "family", "passes": ["open", "closed"]}
import socket


def answer(address, timeout=0.5):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.connect(address)
        try:
            sock.send(b"probe")
            sock.recv(2048)
        except TimeoutError:
            return "silent"
        except ConnectionRefusedError:
            return "closed"
        return "open"
