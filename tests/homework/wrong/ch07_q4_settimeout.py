"""q4 with one mistake: settimeout() and connect_ex(), which lets Python wait and says EAGAIN at the timeout."""
QUESTION = "07_options.q4"
EXPECT = {"fails": ["pending", "non-blocking"], "hint": "non-blocking", "passes": ["listening", "refused", "closed"]}
import socket


def answer(address, timeout):
    with socket.socket(socket.AF_INET6 if ":" in address[0] else socket.AF_INET) as sock:
        sock.settimeout(timeout)
        return sock.connect_ex(address)
