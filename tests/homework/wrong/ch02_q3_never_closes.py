"""q3 with one mistake: the socket is never closed; Python closes it when the function returns, with a warning."""
QUESTION = "02_udp.q3"
EXPECT = {"fails": ["open"], "hint": "close", "passes": ["closed", "silent", "slow"]}
import socket


def answer(address, timeout=0.5):
    sock = socket.socket(socket.AF_INET6 if ":" in address[0] else socket.AF_INET, socket.SOCK_DGRAM)
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
