"""A real socket that writes down what it does.

`RecordingSocket` is a `socket.socket` (same file descriptor, same kernel
object): a handler uses it exactly like the socket that `accept()` returned.
It only adds one line to a `Trace` for each call that moves bytes or ends the
connection, so the course can draw the conversation afterwards.
"""

from __future__ import annotations

import socket
import struct

from .trace import Trace

# Errors that mean "the other end went away", not "the handler has a bug".
PEER_GONE = (ConnectionResetError, BrokenPipeError, ConnectionAbortedError)


def peer_text(address) -> str:
    """An address as short text: '127.0.0.1:5000', '[::1]:5000' or a path."""
    if isinstance(address, tuple) and len(address) >= 2:
        host, port = address[0], address[1]
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    if isinstance(address, bytes):
        address = address.decode(errors="replace")
    return str(address) if address else "(unnamed)"


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

    def _peer_gone(self, exc: BaseException) -> None:
        self._record("reset", detail=f"{type(exc).__name__}: {getattr(exc, 'strerror', None) or exc}")

    def recv(self, bufsize: int = 1024, flags: int = 0) -> bytes:
        try:
            data = super().recv(bufsize, flags)
        except PEER_GONE as exc:
            self._peer_gone(exc)
            raise
        self._record("recv" if data else "eof", data=data)
        return data

    def recv_into(self, buffer, nbytes: int = 0, flags: int = 0) -> int:
        try:
            count = super().recv_into(buffer, nbytes, flags)
        except PEER_GONE as exc:
            self._peer_gone(exc)
            raise
        if count:
            self._record("recv", data=bytes(memoryview(buffer)[:count]))
        else:
            self._record("eof")
        return count

    def send(self, data, flags: int = 0) -> int:
        try:
            count = super().send(data, flags)
        except PEER_GONE as exc:
            self._peer_gone(exc)
            raise
        if not self._quiet:
            self._record("send", data=bytes(memoryview(data)[:count]))
        return count

    def sendall(self, data, flags: int = 0) -> None:
        # A TLS socket's sendall() loops over send(); one event for the whole call.
        self._quiet = True
        try:
            super().sendall(data, flags)
        except PEER_GONE as exc:
            self._peer_gone(exc)
            raise
        finally:
            self._quiet = False
        view = memoryview(data).cast("B")
        self._record("send", data=bytes(view[:256]), nbytes=len(view))

    def shutdown(self, how: int) -> None:
        names = {socket.SHUT_RD: "SHUT_RD", socket.SHUT_WR: "SHUT_WR", socket.SHUT_RDWR: "SHUT_RDWR"}
        super().shutdown(how)
        self._record("shutdown", detail=names.get(how, str(how)))

    def close(self) -> None:
        if not self._close_recorded and self.fileno() != -1:
            self._close_recorded = True
            self._record("close", detail="RST (SO_LINGER 0)" if self._aborts_on_close() else "")
        super().close()

    def _aborts_on_close(self) -> bool:
        """True if SO_LINGER is on with a zero timeout: close() then sends RST, not FIN."""
        if self.type != socket.SOCK_STREAM or self.family == getattr(socket, "AF_UNIX", None):
            return False
        try:
            on, seconds = struct.unpack("ii", self.getsockopt(socket.SOL_SOCKET, socket.SO_LINGER, 8))
        except (OSError, struct.error):
            return False
        return bool(on) and seconds == 0


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
        data, address = super().recvfrom(bufsize, flags)
        self._record("recvfrom", data=data, peer=peer_text(address))
        return data, address

    def sendto(self, data, *args) -> int:
        count = super().sendto(data, *args)
        self._record("sendto", data=bytes(data), peer=peer_text(args[-1]))
        return count
