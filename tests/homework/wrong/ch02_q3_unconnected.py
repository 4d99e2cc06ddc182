"""q3 with one mistake: an unconnected socket (sendto/recvfrom, the sender checked), which never hears ICMP."""
QUESTION = "02_udp.q3"
EXPECT = {"fails": ["closed"], "hint": "connect", "passes": ["open", "stranger"]}
import socket
import time


def answer(address, timeout=0.5):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        deadline = time.monotonic() + timeout
        try:
            sock.sendto(b"probe", address)
            while (left := deadline - time.monotonic()) > 0:
                sock.settimeout(left)
                data, sender = sock.recvfrom(2048)
                if sender == address:
                    return "open"
        except TimeoutError:
            pass
        except ConnectionRefusedError:
            return "closed"
        return "silent"
