"""q4 with one mistake: a blocking connect_ex(), which hangs while the SYN is dropped."""
QUESTION = "07_options.q4"
EXPECT = {"fails": ["pending", "non-blocking"], "hint": "non-blocking", "passes": ["listening", "refused", "closed"]}
import socket


def answer(address, timeout):
    with socket.socket(socket.AF_INET6 if ":" in address[0] else socket.AF_INET) as sock:
        return sock.connect_ex(address)
