"""q4 with one mistake: 'writable' taken for 'connected', without reading SO_ERROR."""
QUESTION = "07_options.q4"
EXPECT = {"fails": ["refused"], "hint": "so-error", "passes": ["listening", "pending", "non-blocking", "closed"]}
import select
import socket


def answer(address, timeout):
    with socket.socket(socket.AF_INET6 if ":" in address[0] else socket.AF_INET) as sock:
        sock.setblocking(False)
        sock.connect_ex(address)
        _, writable, _ = select.select([], [sock], [], timeout)
        return 0 if writable else None
