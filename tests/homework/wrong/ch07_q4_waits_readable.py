"""q4 with one mistake: select() waits for 'readable', which a silent server never becomes."""
QUESTION = "07_options.q4"
EXPECT = {"fails": ["listening"], "hint": "writable", "passes": ["refused", "pending", "non-blocking", "closed"]}
import select
import socket


def answer(address, timeout):
    with socket.socket(socket.AF_INET6 if ":" in address[0] else socket.AF_INET) as sock:
        sock.setblocking(False)
        sock.connect_ex(address)
        readable, _, _ = select.select([sock], [], [], timeout)
        if not readable:
            return None
        return sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
