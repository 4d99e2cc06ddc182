"""q4 with one mistake: select() with no wait at all, so a handshake still on its way is 'pending' at once."""
QUESTION = "07_options.q4"
EXPECT = {"fails": ["pending"], "hint": "pending", "passes": ["non-blocking", "closed"]}
import select
import socket


def answer(address, timeout):
    with socket.socket(socket.AF_INET6 if ":" in address[0] else socket.AF_INET) as sock:
        sock.setblocking(False)
        sock.connect_ex(address)
        _, writable, _ = select.select([], [sock], [], 0)
        if not writable:
            return None
        return sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
