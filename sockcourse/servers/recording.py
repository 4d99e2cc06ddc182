"""A real socket that writes down what it does, plain or over TLS.

`RecordingSocket` is a `socket.socket` (same file descriptor, same kernel
object): a handler uses it exactly like the socket that `accept()` returned.
It only adds one line to a `Trace` for each call that moves bytes or ends the
connection, so the course can draw the conversation afterwards.
`RecordingSSLSocket` does the same for a server's TLS socket, recording the
plaintext its handler reads and writes.
"""

from __future__ import annotations

import socket
import ssl

from ..core.addresses import peer_text
from ..core.errors import PEER_GONE, Fault
from ..core.sockets import aborts_on_close
from ..core.trace import Trace

__all__ = ["PEER_GONE", "RecordingMixin", "RecordingSSLSocket", "RecordingSocket", "handshake_failure",
           "peer_text"]


class RecordingMixin:
    """The recording half, shared by plain sockets and TLS sockets.

    It expects `_trace`, `_conn` and `_peer` on the instance, and records
    nothing while `_trace` is None.
    """

    _trace: Trace | None = None
    _conn = 0
    _peer = ""
    _quiet = False           # set while sendall() is running, so its inner send()s stay silent
    _close_recorded = False

    def _record(self, kind: str, **fields) -> None:
        if self._trace is not None:
            self._trace.record(kind, conn=self._conn, peer=fields.pop("peer", self._peer), **fields)

    def _failed(self, exc: OSError) -> None:
        """Note that one of this socket's own calls raised `exc` (a reset is the peer's, and recorded)."""
        try:
            exc._sockcourse_socket = id(self)
        except AttributeError:  # an exception type without a __dict__: it cannot be claimed
            pass
        if isinstance(exc, PEER_GONE):
            self._record("reset", detail=f"{type(exc).__name__}: {getattr(exc, 'strerror', None) or exc}",
                         error=exc, fault=Fault.PEER)

    def raised_here(self, exc: BaseException) -> bool:
        """True if `exc` came out of one of this socket's calls (not from another socket the handler opened).

        The server uses it to tell a timeout or reset on the connection it
        handed over (the peer's doing) from the same error on an upstream
        socket the handler opened itself (the handler's to answer for).
        """
        return getattr(exc, "_sockcourse_socket", None) == id(self)

    def recv(self, bufsize: int = 1024, flags: int = 0) -> bytes:
        try:
            data = super().recv(bufsize, flags)
        except OSError as exc:
            self._failed(exc)
            raise
        self._record("recv" if data else "eof", data=data)
        return data

    def recv_into(self, buffer, nbytes: int = 0, flags: int = 0) -> int:
        try:
            count = super().recv_into(buffer, nbytes, flags)
        except OSError as exc:
            self._failed(exc)
            raise
        if count:
            self._record("recv", data=bytes(memoryview(buffer)[:count]))
        else:
            self._record("eof")
        return count

    def send(self, data, flags: int = 0) -> int:
        try:
            count = super().send(data, flags)
        except OSError as exc:
            self._failed(exc)
            raise
        if not self._quiet:
            self._record("send", data=bytes(memoryview(data)[:count]))
        return count

    def sendall(self, data, flags: int = 0) -> None:
        # A TLS socket's sendall() loops over send(); one event for the whole call.
        self._quiet = True
        try:
            super().sendall(data, flags)
        except OSError as exc:
            self._failed(exc)
            raise
        finally:
            self._quiet = False
        view = memoryview(data).cast("B")
        self._record("send", data=bytes(view[:256]), nbytes=len(view))

    def shutdown(self, how: int) -> None:
        names = {socket.SHUT_RD: "SHUT_RD", socket.SHUT_WR: "SHUT_WR", socket.SHUT_RDWR: "SHUT_RDWR"}
        try:
            super().shutdown(how)
        except OSError as exc:
            self._failed(exc)
            raise
        self._record("shutdown", detail=names.get(how, str(how)))

    def close(self) -> None:
        if not self._close_recorded and self.fileno() != -1:
            self._close_recorded = True
            abort = aborts_on_close(self)
            self._record("close", detail="RST (SO_LINGER 0)" if abort else "", abort=abort)
        super().close()


class RecordingSocket(RecordingMixin, socket.socket):
    """A connected or datagram socket whose calls are recorded in a trace."""

    def __init__(self, sock: socket.socket, trace: Trace, conn: int = 0, peer: str = ""):
        timeout = sock.gettimeout()
        super().__init__(sock.family, sock.type, sock.proto, fileno=sock.detach())
        self.settimeout(timeout)
        self._trace = trace
        self._conn = conn
        self._peer = peer

    def recvfrom(self, bufsize: int, flags: int = 0):
        try:
            data, address = super().recvfrom(bufsize, flags)
        except OSError as exc:
            self._failed(exc)
            raise
        self._record("recvfrom", data=data, peer=peer_text(address))
        return data, address

    def sendto(self, data, *args) -> int:
        try:
            count = super().sendto(data, *args)
        except OSError as exc:
            self._failed(exc)
            raise
        self._record("sendto", data=bytes(data), peer=peer_text(args[-1]))
        return count


class RecordingSSLSocket(RecordingMixin, ssl.SSLSocket):
    """A server's TLS socket that records, in a trace, the plaintext its handler reads and writes."""

    @classmethod
    def wrap(cls, sock, context: ssl.SSLContext, trace: Trace, conn: int, peer: str) -> "RecordingSSLSocket":
        """Take over `sock` (a connected socket) as the server side of TLS; no handshake yet.

        SSLContext.wrap_socket() would make a plain SSLSocket; `_create` is
        what it calls inside, and the one way to get a subclass without
        changing the learner's context (ssl.py, Python 3.7 and later).
        """
        secure = cls._create(sock=sock, server_side=True, do_handshake_on_connect=False, context=context)
        secure._trace, secure._conn, secure._peer = trace, conn, peer
        return secure


def handshake_failure(exc: BaseException) -> str:
    """One line on why a server-side TLS handshake failed, for the trace."""
    reason = getattr(exc, "reason", None)
    if isinstance(exc, ssl.SSLError) and reason:
        return f"TLS handshake failed: {reason}"
    return f"TLS handshake failed: {type(exc).__name__}: {exc}"
