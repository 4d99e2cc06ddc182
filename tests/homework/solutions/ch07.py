"""Chapter 07's answers by their expected names: the same solutions as homework-source/07_options.ipynb.

The notebook's answer cells hold these function bodies as their solution
regions, so the two cannot drift apart.
"""

import errno
import select
import socket
import struct


# -- q1 -----------------------------------------------------------------------------------------
def quick(sock):
    """Configure the connected TCP socket `sock` so that write-write-read rounds do not stall."""
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


# -- q2 -----------------------------------------------------------------------------------------
def abort(sock):
    """Close a connected TCP socket with RST: SO_LINGER on with a time of 0, then close()."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


# -- q3 -----------------------------------------------------------------------------------------
def listen_again(port):
    """A TCP socket listening on 127.0.0.1:port, even while old connections on it sit in TIME_WAIT."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        sock.listen()
    except OSError:
        sock.close()
        raise
    return sock


# -- q4 -----------------------------------------------------------------------------------------
def connect_result(address, timeout):
    """0 if a connect to address works, its errno if it fails, None if it is still pending after timeout."""
    family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setblocking(False)
        code = sock.connect_ex(address)
        if code not in (0, errno.EINPROGRESS):
            return code
        _, writable, _ = select.select([], [sock], [], timeout)
        if not writable:
            return None
        return sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
