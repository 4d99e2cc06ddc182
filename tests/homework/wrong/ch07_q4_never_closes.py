"""q4 with one mistake: the socket is kept, never closed."""
QUESTION = "07_options.q4"
EXPECT = {"fails": ["closed"], "hint": "close", "passes": ["listening", "refused", "pending", "non-blocking"]}
import select
import socket

_kept = []  # "for later", and never closed


def answer(address, timeout):
    sock = socket.socket(socket.AF_INET6 if ":" in address[0] else socket.AF_INET)
    _kept.append(sock)
    sock.setblocking(False)
    sock.connect_ex(address)
    _, writable, _ = select.select([], [sock], [], timeout)
    if not writable:
        return None
    return sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
