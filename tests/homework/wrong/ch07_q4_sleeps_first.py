"""q4 with one mistake: it sleeps the whole timeout, then looks."""
QUESTION = "07_options.q4"
EXPECT = {"fails": ["listening", "refused"], "hint": "prompt", "passes": ["pending", "non-blocking", "closed"]}
import select
import socket
import time


def answer(address, timeout):
    with socket.socket(socket.AF_INET6 if ":" in address[0] else socket.AF_INET) as sock:
        sock.setblocking(False)
        sock.connect_ex(address)
        time.sleep(timeout)
        _, writable, _ = select.select([], [sock], [], 0)
        if not writable:
            return None
        return sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
