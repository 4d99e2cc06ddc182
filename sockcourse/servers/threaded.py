"""Servers on background threads, so a notebook cell can talk to them.

`serve(handler)` binds a real socket on loopback (port 0 by default), starts
a thread that accepts connections (or receives datagrams), and returns once
the socket is listening. Each connection is served on its own thread by the
handler, which gets the real connected socket. Everything that happens is
recorded in `server.trace`; nothing is printed from a server thread.

Who is at fault is decided here, once, and written into the trace:
- the peer's doing (it reset, went silent past `idle_timeout`, sent half a
  message, broke off a TLS handshake) is recorded as such and never raised;
- the handler's bug (any other exception, including a timeout or a reset
  from a socket the handler opened itself) is kept and raised at `stop()`.

Every server is registered (see `core.lifecycle`), so that `stop_all()` can
end it, and so that re-running a notebook cell first stops the servers the
cell's previous run started.
"""

from __future__ import annotations

import inspect
import os
import selectors
import socket
import ssl
import threading
import time

from ..core.addresses import family_for, peer_text
from ..core.binding import BoundSocket, open_socket
from ..core.checks import (check_backlog, check_choice, check_flag, check_listen_address, check_name,
                           check_seconds)
from ..core.errors import (PEER_GONE, ArgumentError, ArgumentTypeError, CertificateError, Fault, HandlerError,
                           MissingFileError, PeerFault, SockcourseError, describe, handler_failure)
from ..core.lifecycle import Endpoint, stop_named
from ..core.limits import ACCEPT_CAPACITY_ERRNOS, ACCEPT_RETRY_DELAY, LOOP_TICK, STOP_TIMEOUT
from ..core.trace import Trace
from . import handlers
from .recording import RecordingSocket, RecordingSSLSocket, handshake_failure

__all__ = ["STOP_TIMEOUT", "Server", "TRANSPORTS", "serve", "server_context_for"]

#: transport name -> (address family, socket type); None means "from the host".
TRANSPORTS = {
    "tcp": (None, socket.SOCK_STREAM),
    "udp": (None, socket.SOCK_DGRAM),
    "unix": (getattr(socket, "AF_UNIX", None), socket.SOCK_STREAM),
    "unix_dgram": (getattr(socket, "AF_UNIX", None), socket.SOCK_DGRAM),
}

# Errors of a datagram handler's sendto() that the client, not the handler, caused;
# UNIX datagram sockets raise them (UDP drops such datagrams silently).
_REPLY_UNDELIVERABLE = PEER_GONE + (ConnectionRefusedError, FileNotFoundError, BlockingIOError)


def serve(handler, *, transport: str = "tcp", host: str | None = None, port: int = 0,
          path=None, backlog: int = 128, idle_timeout: float | None = 300.0,
          name: str | None = None, tls=None, reuse_address: bool = True, setup=None) -> "Server":
    """Start a server for `handler` on a background thread and return its handle.

    handler: for "tcp" and "unix", a function `handler(conn)` that gets each
        connected socket; for "udp" and "unix_dgram", a function
        `handler(sock, data, address)` called for each datagram (the stock
        handlers in `sockcourse.handlers` work with every transport).
    transport: "tcp", "udp", "unix" (stream) or "unix_dgram".
    host: a loopback address, "127.0.0.1" (the default) or "::1".
    port: 0 (the default) lets the kernel choose a free port.
    path: for UNIX transports; None makes one in a private temporary directory.
    backlog: the accept queue asked of listen() (the kernel caps it at
        net.core.somaxconn).
    idle_timeout: seconds a connection may stay silent before the server
        gives up on it (None: no limit; stop() ends it anyway).
    name: a server started with the same name as a running one replaces it.
    tls: serve over TLS (stream transports only): a server's ssl.SSLContext,
        anything with a `server_context()` method (a CertificateAuthority or
        a Certificate from sockcourse.tls), or the path of a PEM file with a
        certificate and its key. The handler then gets an ssl.SSLSocket, and
        the trace records the plaintext it read and wrote.
    reuse_address: set SO_REUSEADDR on a TCP listener before bind() (the
        default), so a port that an earlier run left in TIME_WAIT can be bound
        again at once; chapter 07 shows what happens without it.
    setup: None, or a function `setup(sock)` called with the listening socket
        before bind(), to set socket options of your own.
    """
    _check_handler(handler, transport)
    family, kind = TRANSPORTS[transport]
    unix = transport.startswith("unix")
    if unix and family is None:
        raise ArgumentError(f"This OS has no UNIX sockets, so transport={transport!r} cannot work here; use 'tcp'.")
    host, port, path = check_listen_address(transport, host, port, path, unix=unix)
    if not unix:
        family = family_for(host)
    backlog = check_backlog(backlog)
    idle_timeout = check_seconds(idle_timeout, "idle_timeout", example=5.0)
    reuse_address = check_flag(reuse_address, "reuse_address")
    if setup is not None and not callable(setup):
        raise ArgumentTypeError(f"The setup must be a function that takes the new socket, but got {setup!r}; "
                                f"for example setup=lambda sock: sock.setsockopt(...).")
    if tls is not None:
        if kind != socket.SOCK_STREAM:
            raise ArgumentError(
                f"TLS runs over a stream, but transport={transport!r} carries datagrams (Python's ssl "
                f"module has no DTLS); use transport='tcp', or sockcourse.quic for TLS over UDP.")
        tls = server_context_for(tls)

    if name is not None:
        check_name(name)
        stop_named(name)  # before binding: the namesake may hold the address asked for
    server = Server(handler, transport=transport, family=family, kind=kind, host=host, port=port,
                    path=path, backlog=backlog, idle_timeout=idle_timeout, name=name, tls=tls,
                    reuse_address=reuse_address, setup=setup)
    return server._launch()


def _check_handler(handler, transport: str) -> None:
    """Refuse, with the sentence a learner needs, a handler that could only fail later in a thread."""
    check_choice(transport, "transport", TRANSPORTS, example="udp")
    if isinstance(handler, str):
        hint = (f"pass sockcourse.handlers.{handler} (the function itself)"
                if hasattr(handlers, handler) else
                "pass a function that takes a connected socket, such as sockcourse.handlers.echo")
        raise ArgumentTypeError(f"The handler must be a function, but got the string {handler!r}; {hint}.")
    if not callable(handler):
        raise ArgumentTypeError(
            f"The handler must be a function that takes a connected socket, but got {handler!r} "
            f"(type {type(handler).__name__}); try sockcourse.handlers.echo.")
    name = getattr(handler, "__name__", repr(handler))
    if inspect.iscoroutinefunction(handler):
        raise ArgumentTypeError(
            f"The handler {name!r} is an async function, and serve() calls plain functions on threads; "
            f"use sockcourse.aio.serve_async({name}) for an `async def handler(reader, writer)`.")
    datagram = TRANSPORTS[transport][1] == socket.SOCK_DGRAM
    if datagram:
        target = getattr(handler, "datagram", handler)
        if not _takes(target, 3):
            able = ", ".join(n for n, h in handlers.BY_NAME.items() if hasattr(h, "datagram"))
            raise ArgumentTypeError(
                f"The handler {name!r} acts on a connection, and datagrams (transport={transport!r}) have "
                f"none; use transport='tcp', or pick one that works with datagrams ({able}), or write "
                f"handler(sock, data, address).")
    elif not _takes(handler, 1):
        raise ArgumentTypeError(
            f"The handler {name!r} cannot be called with one connected socket, which is how a "
            f"{transport!r} server calls it; use `def {name}(conn):`, as in sockcourse.handlers.echo.")


def _takes(function, count: int) -> bool:
    """True if `function` can be called with `count` positional arguments (or we cannot tell)."""
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return True  # a builtin without a signature: let it try
    try:
        signature.bind(*range(count))
    except TypeError:
        return False
    return True


def server_context_for(tls) -> ssl.SSLContext:
    """What serve(tls=...) accepts, turned into a server's SSLContext; a clear error otherwise.

    Taken by shape, so this layer needs no certificate code: a server
    context, anything with `server_context()`, or a PEM file of a
    certificate with its key.
    """
    if isinstance(tls, ssl.SSLContext):
        if tls.protocol == ssl.PROTOCOL_TLS_CLIENT:
            raise ArgumentError("The server got a client context as tls= (PROTOCOL_TLS_CLIENT), which cannot accept "
                                "connections; pass a server context, such as ca.server_context().")
        return tls
    if isinstance(tls, bool):
        raise ArgumentTypeError(f"The argument tls={tls!r} does not say which certificate the server should present; "
                                f"make one and pass it: ca = sockcourse.tls.CertificateAuthority(), then tls=ca.")
    if callable(getattr(tls, "server_context", None)):
        return tls.server_context()
    if isinstance(tls, (str, os.PathLike)):
        path = os.fspath(tls)
        if not os.path.isfile(path):
            raise MissingFileError(f"The certificate file {path!r} does not exist (or is not a file); check the "
                                f"path, or pass tls=sockcourse.tls.CertificateAuthority().")
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        try:
            context.load_cert_chain(path)
        except ssl.SSLError as exc:
            raise CertificateError(f"OpenSSL could not load a certificate and its private key from {path!r} "
                                f"({exc.reason or exc}); pass one PEM file that holds both.") from None
        return context
    raise ArgumentTypeError(f"The argument tls= expects an ssl.SSLContext for a server, a CertificateAuthority, a Certificate "
                            f"or the path of a PEM file, but got {tls!r} (type {type(tls).__name__}); "
                            f"for example tls=sockcourse.tls.CertificateAuthority().")


class Server(Endpoint):
    """A running server: its address, its trace, and stop(). No public constructor: use `serve()`.

    For the caller: `address` (with `host`/`port`, or `path`), `trace`,
    `accepted` (connections so far), `errors`, `running`, and `stop()`. Use
    it in a `with` block, or call `stop()` when done; stop() is safe to
    call twice, and re-raises (once) an exception that the handler raised.
    """

    what = "server"

    def __init__(self, handler, *, transport, family, kind, host, port, path, backlog,
                 idle_timeout, name, tls=None, reuse_address=True, setup=None):
        super().__init__(name or getattr(handler, "__name__", type(handler).__name__), name)
        self.handler = handler
        self.tls = tls  # the server's ssl.SSLContext, or None
        self.transport = transport
        self.trace = Trace()
        self._family, self._kind = family, kind
        self._host, self._requested_port, self._path = host, port, path
        self._backlog, self._idle_timeout = backlog, idle_timeout
        self._reuse_address, self._setup = reuse_address, setup
        self._bound: BoundSocket | None = None  # the socket file and its folder, cleaned up at stop
        self._sock: socket.socket | None = None
        self._wake_r = self._wake_w = None
        self._loop_thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._connections: dict[int, tuple[threading.Thread, socket.socket]] = {}
        self._accepted = 0
        self._errors: list[tuple[int, str, BaseException]] = []
        self._loop_error: BaseException | None = None

    # -- start ---------------------------------------------------------------
    def _start(self) -> None:
        self._bound = open_socket(self._family, self._kind, host=self._host, port=self._requested_port,
                                  path=self._path, backlog=self._backlog, reuse_address=self._reuse_address,
                                  setup=self._setup)
        self._sock, self.address = self._bound.sock, self._bound.address
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._sock.setblocking(False)
        if self._kind == socket.SOCK_STREAM:
            loop = self._accept_loop
        else:
            self._sock = RecordingSocket(self._sock, self.trace)
            loop = self._datagram_loop
        self.trace.record("listen", peer=peer_text(self.address))
        self._loop_thread = self._spawn(loop, f"sockcourse-{self.name}-{self.transport}")

    # -- the loops (server threads: record, never print) ----------------------
    def _wait_readable(self, selector) -> bool:
        """Wait for the server socket; False once the server is stopping."""
        while not self._stopping.is_set():
            ready = [key.fileobj for key, _ in selector.select(timeout=LOOP_TICK)]
            if self._wake_r in ready:
                return False
            if ready:
                return True
        return False

    def _accept_loop(self) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(self._sock, selectors.EVENT_READ)
            selector.register(self._wake_r, selectors.EVENT_READ)
            while self._wait_readable(selector):
                try:
                    conn, address = self._sock.accept()
                except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                    continue
                except OSError as exc:
                    if self._stopping.is_set():
                        return
                    if exc.errno in ACCEPT_CAPACITY_ERRNOS:
                        # No room just now (out of descriptors, say): say so, breathe, go on.
                        self.trace.record("error", detail=f"accept failed: {exc.strerror or exc}; retrying",
                                          error=exc, fault=Fault.COURSE)
                        time.sleep(ACCEPT_RETRY_DELAY)
                        continue
                    self._loop_error = exc  # anything else ends the loop, and stop() reports it
                    self.trace.record("error", detail=f"accept failed: {describe(exc)}", error=exc,
                                      fault=Fault.COURSE)
                    return
                self._start_connection(conn, address)

    def _start_connection(self, conn: socket.socket, address) -> None:
        with self._lock:
            self._accepted += 1
            number = self._accepted
        conn.setblocking(True)
        conn.settimeout(self._idle_timeout)
        peer = peer_text(address) if self._family != socket.AF_UNIX else f"client #{number}"
        recording = RecordingSocket(conn, self.trace, number, peer)
        self.trace.record("accept", conn=number, peer=peer)
        with self._lock:
            self._connections[number] = (None, recording)
        thread = self._spawn(self._serve_connection, f"sockcourse-{self.name}-conn{number}", number, recording)
        with self._lock:
            if number in self._connections:
                self._connections[number] = (thread, self._connections[number][1])

    def _serve_connection(self, number: int, conn: RecordingSocket) -> None:
        try:
            if self.tls is not None:
                secure = self._start_tls(number, conn)
                if secure is None:
                    return
                conn = secure  # the plain socket is detached now; the finally closes this one
            self.handler(conn)
        except BaseException as exc:  # noqa: BLE001 - sorted by whose doing it is
            self._sort_out(number, conn, exc)
        finally:
            try:
                conn.close()
            finally:
                with self._lock:
                    self._connections.pop(number, None)

    def _sort_out(self, number: int, conn, exc: BaseException) -> None:
        """Record what a connection's end was, as the peer's doing or the handler's."""
        if isinstance(exc, PeerFault):
            self.trace.record("eof", conn=number, peer=conn._peer, detail=str(exc), error=exc, fault=Fault.PEER)
        elif isinstance(exc, PEER_GONE) and conn.raised_here(exc):
            pass  # the recording socket has written it down as "reset"
        elif isinstance(exc, TimeoutError) and conn.raised_here(exc):
            self.trace.record("timeout", conn=number, peer=conn._peer,
                              detail=f"idle for {self._idle_timeout} s", error=exc, fault=Fault.PEER)
        elif isinstance(exc, OSError) and self._stopping.is_set() and conn.raised_here(exc):
            pass  # stop() shut this socket down under the handler: the end it asked for
        else:
            # The handler's own bug, or an error from a socket it opened itself
            # (an upstream that timed out or reset): its doing, kept for stop().
            self._keep_error(number, conn._peer, exc)

    def _start_tls(self, number: int, conn: RecordingSocket):
        """The server's half of the TLS handshake; the TLS socket, or None if it failed."""
        secure = conn
        try:
            secure = RecordingSSLSocket.wrap(conn, self.tls, self.trace, number, conn._peer)
            with self._lock:
                # stop() must wake the TLS socket now: the plain one has handed its descriptor over.
                self._connections[number] = (self._connections[number][0], secure)
            if self._stopping.is_set():
                secure.close()
                return None
            secure.do_handshake()
        except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
            # The client's doing (no trust in our certificate, no certificate of
            # its own, plaintext, half a ClientHello and a reset, a timeout), not
            # the handler's: record, don't raise. A refusal named by TLS is
            # recorded even during stop(), which joins this thread, so the trace
            # is complete once stop() returns.
            named = (isinstance(exc, ssl.SSLError) and exc.reason
                     and not isinstance(exc, (ssl.SSLEOFError, ssl.SSLZeroReturnError, ssl.SSLSyscallError)))
            if named or not self._stopping.is_set():
                self.trace.record("handshake", conn=number, peer=conn._peer, detail=handshake_failure(exc),
                                  error=exc, fault=Fault.PEER)
            secure.close()
            return None
        return secure

    def _datagram_loop(self) -> None:
        handler = getattr(self.handler, "datagram", self.handler)
        sock = self._sock
        with selectors.DefaultSelector() as selector:
            selector.register(sock, selectors.EVENT_READ)
            selector.register(self._wake_r, selectors.EVENT_READ)
            while self._wait_readable(selector):
                try:
                    data, address = sock.recvfrom(65535)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError as exc:
                    if self._stopping.is_set():
                        return
                    self.trace.record("error", detail=f"recvfrom failed: {exc.strerror or exc}", error=exc,
                                      fault=Fault.COURSE)
                    continue
                try:
                    handler(sock, data, address)
                except _REPLY_UNDELIVERABLE as exc:
                    # The client cannot take the reply (it closed, its path is gone, or its
                    # queue is full on the non-blocking server socket): its doing, not a bug.
                    self.trace.record("error", peer=peer_text(address),
                                      detail=f"reply dropped: {type(exc).__name__}: {exc.strerror or exc}",
                                      error=exc, fault=Fault.PEER)
                except BaseException as exc:  # noqa: BLE001 - the handler's bug: keep it for stop()
                    self._keep_error(0, peer_text(address), exc)

    def _keep_error(self, number: int, peer: str, exc: BaseException) -> None:
        self.trace.record("error", conn=number, peer=peer, detail=describe(exc), error=exc, fault=Fault.HANDLER)
        with self._lock:
            self._errors.append((number, peer, exc))

    # -- stop ------------------------------------------------------------------
    def _stop(self, timeout: float) -> None:
        """Stop accepting, end every connection, wait for the threads (not for the caller's own)."""
        self._stopping.set()
        deadline = time.monotonic() + timeout
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass
        late = self._join_all([self._loop_thread], deadline)
        with self._lock:
            connections = list(self._connections.values())
        for _, conn in connections:
            try:
                if isinstance(conn, ssl.SSLSocket):
                    # The socket's own shutdown() would drop its TLS state under the
                    # feet of the thread that is using it; the descriptor's wakes it alike.
                    socket.socket.shutdown(conn, socket.SHUT_RDWR)
                else:
                    conn.shutdown(socket.SHUT_RDWR)  # wakes a handler blocked in recv()
            except OSError:
                pass
        late += self._join_all([thread for thread, _ in connections], deadline)
        self._close()
        self.trace.record("stop")
        self._raise_kept_errors(late, timeout)

    def _close(self) -> None:
        with self._lock:
            leftovers = [conn for _, conn in self._connections.values()]
        for sock in [self._sock, self._wake_r, self._wake_w, *leftovers]:
            if sock is not None:
                try:
                    sock.close()
                except OSError:
                    pass
        if self._bound is not None:
            self._bound.remove_path()

    def _raise_kept_errors(self, late: list, timeout: float) -> None:
        if self._errors:
            raise handler_failure(self.name, self._errors)
        if late:
            raise HandlerError(
                f"The server {self.name!r} stopped, but {len(late)} of its threads were still busy "
                f"{timeout} s later ({', '.join(late)}); a handler that sleeps or loops without "
                f"reading its socket cannot be woken up: make its loops end when recv() returns b''.")
        if self._loop_error is not None:
            raise SockcourseError(
                f"The server {self.name!r} stopped accepting connections early, because accept() failed "
                f"with {describe(self._loop_error)}; start a new server (see server.trace for when).") \
                from self._loop_error

    # -- conveniences --------------------------------------------------------
    @property
    def accepted(self) -> int:
        """How many connections the server has accepted so far."""
        return self._accepted

    #: The older name of `accepted`, which notebooks written earlier use.
    connections = accepted

    @property
    def errors(self) -> list[BaseException]:
        """The exceptions the handler raised so far (stop() raises the first)."""
        with self._lock:
            return [exc for _, _, exc in self._errors]

    def _where(self) -> str:
        return self.address if self._family == socket.AF_UNIX else super()._where()

    def _more(self) -> str:
        return f", {self._accepted} connections"
