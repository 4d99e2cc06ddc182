"""q4 with one mistake: connect_ex()'s own return value, EINPROGRESS, taken for the result."""
QUESTION = "07_options.q4"
EXPECT = {"fails": ["listening", "refused", "pending"], "hint": "in-progress", "passes": ["non-blocking", "closed"]}
import socket


def answer(address, timeout):
    with socket.socket(socket.AF_INET6 if ":" in address[0] else socket.AF_INET) as sock:
        sock.setblocking(False)
        return sock.connect_ex(address)
