"""Small things done to a real socket that several parts need: read exactly n bytes, abort with RST.

Each is written once here so that a handler, the link and a measurement do
it the same way; none of them hides an option: `abort()` is the one place
the course sets SO_LINGER, and it says so in its name.
"""

from __future__ import annotations

import socket
import struct

from .errors import IncompleteMessage

#: Bytes asked of recv() at a time: big enough that a message of a lesson
#: arrives in one piece when the kernel has it all.
CHUNK = 65536

#: struct linger {int l_onoff; int l_linger;} with l_onoff=1, l_linger=0 (socket(7)).
_LINGER_ZERO = struct.pack("ii", 1, 0)


def recv_exactly(sock: socket.socket, size: int, *, what: str = "message", eof_ok: bool = True) -> bytes:
    """Read exactly `size` bytes from a stream socket.

    TCP delivers a stream, not messages, so one recv() may return any part
    of what was sent; this loops until all `size` bytes are in. If the peer
    closes before the first byte and `eof_ok` is true, it returns b'' (a
    clean end between messages). If it closes part-way, that is the peer's
    fault: IncompleteMessage, which servers record as the peer's doing.
    """
    parts, missing = [], size
    while missing:
        part = sock.recv(min(missing, CHUNK))
        if not part:
            if missing == size and eof_ok:
                return b""
            raise IncompleteMessage(b"".join(parts), size, what)
        parts.append(part)
        missing -= len(part)
    return b"".join(parts)


def abort(sock: socket.socket) -> None:
    """Close `sock` with RST instead of FIN: SO_LINGER on with a zero timeout, then close() (socket(7))."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_ZERO)
    except OSError:
        pass  # already reset or closed by the peer: close() below ends it all the same
    sock.close()


def aborts_on_close(sock: socket.socket) -> bool:
    """True if SO_LINGER is on with a zero timeout, so close() will send RST, not FIN."""
    if sock.type != socket.SOCK_STREAM or sock.family == getattr(socket, "AF_UNIX", None):
        return False
    try:
        on, seconds = struct.unpack("ii", sock.getsockopt(socket.SOL_SOCKET, socket.SO_LINGER, 8))
    except (OSError, struct.error):
        return False
    return bool(on) and seconds == 0
