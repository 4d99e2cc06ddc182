"""Stock handlers: small, readable servers' halves for the lessons.

A stream handler is a function `handler(conn)` that gets a connected socket
and returns when it is done; the server closes the socket afterwards. Each
stock handler also carries a `.datagram(sock, data, address)` version, used
when it serves UDP or UNIX datagrams, so `serve(echo, transport="udp")` works.

Every loop here ends when the peer closes its side (recv returns b""), which
is also what the server's stop() causes. A peer that closes in the middle of
a message makes `recv_exactly` raise IncompleteMessage, which the server
records as the peer's doing, not the handler's.
"""

from __future__ import annotations

import socket
import struct

from ..core.sockets import CHUNK, abort, recv_exactly

__all__ = ["BY_NAME", "CHUNK", "discard", "echo", "hangup", "length_prefixed_echo", "recv_exactly", "reset",
           "upper"]


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
    abort(conn)


def length_prefixed_echo(conn: socket.socket) -> None:
    """Echo whole messages framed by a 4-byte big-endian length, as in chapter 01."""
    while header := recv_exactly(conn, 4, what="length prefix"):
        (size,) = struct.unpack("!I", header)
        body = recv_exactly(conn, size, eof_ok=False)
        conn.sendall(header + body)


#: The stock handlers by name, for the command line.
BY_NAME = {f.__name__: f for f in (echo, upper, discard, hangup, reset, length_prefixed_echo)}
