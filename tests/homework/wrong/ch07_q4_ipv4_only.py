"""q4 with one mistake: always an IPv4 socket, whatever the address."""
QUESTION = "07_options.q4"
EXPECT = {"fails": ["ipv6"], "hint": "family", "passes": ["listening", "refused", "pending", "non-blocking", "closed"]}
import select
import socket


def answer(address, timeout):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setblocking(False)
        sock.connect_ex(address)
        _, writable, _ = select.select([], [sock], [], timeout)
        if not writable:
            return None
        return sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
