"""Stock handlers: small, readable servers' halves for the lessons.

A stream handler is a function `handler(conn)` that gets a connected socket
and returns when it is done; the server closes the socket afterwards. Each
stock handler also carries a `.datagram(sock, data, address)` version, used
when it serves UDP or UNIX datagrams, so `serve(echo, transport="udp")` works.

Every loop here ends when the peer closes its side (recv returns b""), which
is also what the server's stop() causes.
"""

from __future__ import annotations

import socket
import struct

#: Bytes asked of recv() at a time: big enough that a message of a lesson
#: arrives in one piece when the kernel has it all.
CHUNK = 65536


def _reply_to(sock, data: bytes, address) -> None:
    # A UNIX datagram client that did not bind its own path has no address to answer.
    if address:
        sock.sendto(data, address)


def _with_datagram(datagram):
    def attach(stream_handler):
        stream_handler.datagram = datagram
        return stream_handler
    return attach


@_with_datagram(lambda sock, data, address: _reply_to(sock, data, address))
def echo(conn: socket.socket) -> None:
    """Send back every byte, until the client closes its side."""
    while data := conn.recv(CHUNK):
        conn.sendall(data)


@_with_datagram(lambda sock, data, address: _reply_to(sock, data.upper(), address))
def upper(conn: socket.socket) -> None:
    """Send back every byte in upper case, until the client closes its side."""
    while data := conn.recv(CHUNK):
        conn.sendall(data.upper())


@_with_datagram(lambda sock, data, address: None)
def discard(conn: socket.socket) -> None:
    """Read and throw away everything, never answering (RFC 863's discard service).

    A client that waits for a reply from it sees its own timeout fire.
    """
    while conn.recv(CHUNK):
        pass


def hangup(conn: socket.socket) -> None:
    """Close at once, without reading: the client sees a FIN (recv returns b'')."""
    conn.close()


def reset(conn: socket.socket) -> None:
    """Abort at once: SO_LINGER with a zero timeout makes close() send RST, not FIN.

    The client's next recv() or send() raises ConnectionResetError.
    """
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


def length_prefixed_echo(conn: socket.socket) -> None:
    """Echo whole messages framed by a 4-byte big-endian length, as in chapter 01."""
    while header := _recv_exactly(conn, 4):
        (size,) = struct.unpack("!I", header)
        body = _recv_exactly(conn, size)
        if len(body) < size:
            return  # the client closed in the middle of a message
        conn.sendall(header + body)


def _recv_exactly(conn: socket.socket, size: int) -> bytes:
    """Read exactly `size` bytes, or fewer only if the peer closes first."""
    parts, missing = [], size
    while missing:
        part = conn.recv(min(missing, CHUNK))
        if not part:
            break
        parts.append(part)
        missing -= len(part)
    return b"".join(parts)


#: The stock handlers by name, for the command line.
BY_NAME = {f.__name__: f for f in (echo, upper, discard, hangup, reset, length_prefixed_echo)}
