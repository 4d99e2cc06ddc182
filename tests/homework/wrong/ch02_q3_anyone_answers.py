"""q3 with one mistake: an unconnected socket that takes any datagram for the server's answer."""
QUESTION = "02_udp.q3"
EXPECT = {"fails": ["stranger"], "hint": "filter", "passes": ["open", "silent", "slow"]}
import socket


def answer(address, timeout=0.5):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.sendto(b"probe", address)
            sock.recvfrom(2048)
        except TimeoutError:
            return "silent"
        except ConnectionRefusedError:
            return "closed"
        return "open"
