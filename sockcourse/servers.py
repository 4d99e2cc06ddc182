"""Servers on background threads, so a notebook cell can talk to them.

`serve(handler)` binds a real socket on loopback (port 0 by default), starts
a thread that accepts connections (or receives datagrams), and returns once
the socket is listening. Each connection is served on its own thread by the
handler, which gets the real connected socket. Everything that happens is
recorded in `server.trace`; nothing is printed from a server thread.

Every server is registered, so that `stop_all()` can end them, and so that
re-running a notebook cell first stops the servers the cell's previous run
started (see `registry.py`).
"""

from __future__ import annotations

import selectors
import socket
import ssl
import threading
import time

from . import registry
from .errors import (HandlerError, handler_failure, check_loopback_host, check_port,
                     check_timeout, check_unix_path)
from .listening import BoundSocket, open_socket
from .recording import PEER_GONE, RecordingSocket, peer_text
from .trace import Trace

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

#: How long stop() waits for the threads of a server, in seconds.
STOP_TIMEOUT = 5.0

# The loops wake up at least this often even if no wake-up byte arrives, so a
# lost wake-up can delay a stop by this much but never hang it.
_LOOP_TICK = 0.5


def serve(handler, *, transport: str = "tcp", host: str | None = None, port: int = 0,
          path=None, backlog: int = 128, idle_timeout: float | None = 300.0,
          name: str | None = None, tls=None) -> "Server":
    """Start a server for `handler` on a background thread and return its handle.

    handler: for "tcp" and "unix", a function `handler(conn)` that gets each
        connected socket; for "udp" and "unix_dgram", a function
        `handler(sock, data, address)` called for each datagram (the stock
        handlers in `sockcourse.handlers` work with every transport).
    transport: "tcp", "udp", "unix" (stream) or "unix_dgram".
    host: a loopback address, "127.0.0.1" (the default) or "::1".
    port: 0 (the default) lets the kernel choose a free port.
    path: for UNIX transports; None makes one in a private temporary directory.
    idle_timeout: seconds a connection may stay silent before the server
        gives up on it (None: no limit; stop() ends it anyway).
    name: a server started with the same name as a running one replaces it.
    tls: serve over TLS (stream transports only): a CertificateAuthority from
        sockcourse.tls, a Certificate, a server's ssl.SSLContext, or the path of
        a PEM file with a certificate and its key. The handler then gets an
        ssl.SSLSocket, and the trace records the plaintext it read and wrote.
    """
    if isinstance(handler, str):
        from . import handlers
        hint = (f"pass sockcourse.handlers.{handler} (the function itself)"
                if hasattr(handlers, handler) else
                "pass a function that takes a connected socket, such as sockcourse.handlers.echo")
        raise TypeError(f"The handler must be a function, but got the string {handler!r}; {hint}.")
    if not callable(handler):
        raise TypeError(
            f"The handler must be a function that takes a connected socket, but got {handler!r} "
            f"(a {type(handler).__name__}); try sockcourse.handlers.echo."
        )
    if transport not in TRANSPORTS:
        raise ValueError(
            f"Unknown transport {transport!r}; expected one of {', '.join(map(repr, TRANSPORTS))} "
            f"(for example transport='udp')."
        )
    family, kind = TRANSPORTS[transport]
    if transport.startswith("unix"):
        if family is None:
            raise ValueError(f"This OS has no UNIX sockets, so transport={transport!r} cannot work here; use 'tcp'.")
        if host is not None or port != 0:
            raise ValueError(
                f"A {transport!r} server is named by a path, not by host and port (got host={host!r}, "
                f"port={port!r}); pass path='...' or nothing at all."
            )
        if path is not None:
            path = check_unix_path(path)
    else:
        if path is not None:
            raise ValueError(
                f"A {transport!r} server listens on a host and port, not on a path (got path={path!r}); "
                f"use transport='unix' for a path."
            )
        host = check_loopback_host("127.0.0.1" if host is None else host)
        port = check_port(port)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
    if isinstance(backlog, bool) or not isinstance(backlog, int) or backlog < 0:
        raise ValueError(f"The backlog must be a whole number of 0 or more, but got {backlog!r}; the default is 128.")
    idle_timeout = check_timeout(idle_timeout, "idle_timeout")
    if tls is not None:
        if kind != socket.SOCK_STREAM:
            raise ValueError(
                f"TLS runs over a stream, but transport={transport!r} carries datagrams (Python's ssl "
                f"module has no DTLS); use transport='tcp', or sockcourse.quic for TLS over UDP."
            )
        from .tls import server_side_context  # only here: it imports trustme and cryptography
        tls = server_side_context(tls)

    if name is not None:
        registry.stop_named(name)
    server = Server(handler, transport=transport, family=family, kind=kind, host=host, port=port,
                    path=path, backlog=backlog, idle_timeout=idle_timeout, name=name, tls=tls)
    server._start()
    registry.add(server)
    return server


class Server(registry.Stoppable):
    """A running server: its address, its trace, and stop().

    Use it in a `with` block, or call `stop()` when done; stop() is safe to call
    twice, and re-raises (once) an exception that the handler raised.
    """

    def __init__(self, handler, *, transport, family, kind, host, port, path, backlog,
                 idle_timeout, name, tls=None):
        self.handler = handler
        self.tls = tls  # the server's ssl.SSLContext, or None
        self.transport = transport
        self.name = name or getattr(handler, "__name__", type(handler).__name__)
        self.explicit_name = name
        self.trace = Trace()
        self._family, self._kind = family, kind
        self._host, self._requested_port, self._path = host, port, path
        self._backlog, self._idle_timeout = backlog, idle_timeout
        self._bound: BoundSocket | None = None  # the socket file and its folder, cleaned up at stop
        self._sock: socket.socket | None = None
        self._wake_r = self._wake_w = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._stopped = False
        self._lock = threading.Lock()
        self._connections: dict[int, tuple[threading.Thread, RecordingSocket]] = {}
        self._accepted = 0
        self._errors: list[tuple[int, str, BaseException]] = []
        self.address = None

    # -- start ---------------------------------------------------------------
    def _start(self) -> None:
        try:
            self._sock = self._bind()
            self._wake_r, self._wake_w = socket.socketpair()
            self._wake_r.setblocking(False)
            self._sock.setblocking(False)
            if self._kind == socket.SOCK_STREAM:
                loop = self._accept_loop
            else:
                self._sock = RecordingSocket(self._sock, self.trace)
                loop = self._datagram_loop
            self.trace.record("listen", peer=peer_text(self.address))
            self._thread = threading.Thread(target=loop, name=f"sockcourse-{self.name}-{self.transport}",
                                            daemon=True)
            self._thread.start()
        except BaseException:
            self._close_resources()
            raise

    def _bind(self) -> socket.socket:
        self._bound = open_socket(self._family, self._kind, host=self._host, port=self._requested_port,
                                  path=self._path, backlog=self._backlog)
        self._path, self.address = self._bound.path, self._bound.address
        return self._bound.sock

    # -- the loops (server threads: record, never print) ----------------------
    def _wait_readable(self, selector) -> bool:
        """Wait for the server socket; False once the server is stopping."""
        while not self._stopping.is_set():
            ready = [key.fileobj for key, _ in selector.select(timeout=_LOOP_TICK)]
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
                    # Out of descriptors (EMFILE) and the like: say so, breathe, go on.
                    self.trace.record("error", detail=f"accept failed: {exc.strerror or exc}")
                    time.sleep(0.05)
                    continue
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
        thread = threading.Thread(target=self._serve_connection, args=(number, recording),
                                  name=f"sockcourse-{self.name}-conn{number}", daemon=True)
        with self._lock:
            self._connections[number] = (thread, recording)
        thread.start()

    def _serve_connection(self, number: int, conn: RecordingSocket) -> None:
        try:
            if self.tls is not None:
                secure = self._start_tls(number, conn)
                if secure is None:
                    return
                conn = secure  # the plain socket is detached now; the finally closes this one
            self.handler(conn)
        except PEER_GONE:
            pass  # already in the trace as "reset"; the other end's doing, not a bug
        except TimeoutError:
            self.trace.record("timeout", conn=number, peer=conn._peer,
                              detail=f"idle for {self._idle_timeout} s")
        except OSError as exc:
            if not self._stopping.is_set():
                self._keep_error(number, conn._peer, exc)
        except BaseException as exc:  # the handler's bug: keep it for stop()
            self._keep_error(number, conn._peer, exc)
        finally:
            try:
                conn.close()
            finally:
                with self._lock:
                    self._connections.pop(number, None)

    def _start_tls(self, number: int, conn: RecordingSocket):
        """The server's half of the TLS handshake; the TLS socket, or None if it failed."""
        from .tls import RecordingSSLSocket, handshake_failure
        secure = RecordingSSLSocket.wrap(conn, self.tls, self.trace, number, conn._peer)
        with self._lock:
            # stop() must wake the TLS socket now: the plain one has handed its descriptor over.
            self._connections[number] = (self._connections[number][0], secure)
        try:
            if self._stopping.is_set():
                secure.close()
                return None
            secure.do_handshake()
        except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
            # The client's doing (no trust in our certificate, no certificate of
            # its own, plaintext, a timeout), not the handler's: record, don't raise.
            # A refusal named by TLS is recorded even during stop(), which joins
            # this thread, so the trace is complete once stop() returns.
            named = (isinstance(exc, ssl.SSLError) and exc.reason
                     and not isinstance(exc, (ssl.SSLEOFError, ssl.SSLZeroReturnError, ssl.SSLSyscallError)))
            if named or not self._stopping.is_set():
                self.trace.record("handshake", conn=number, peer=secure._peer, detail=handshake_failure(exc))
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
                    self.trace.record("error", detail=f"recvfrom failed: {exc.strerror or exc}")
                    continue
                try:
                    handler(sock, data, address)
                except _REPLY_UNDELIVERABLE as exc:
                    # The client cannot take the reply (it closed, its path is gone, or its
                    # queue is full on the non-blocking server socket): its doing, not a bug.
                    self.trace.record("error", peer=peer_text(address),
                                      detail=f"reply dropped: {type(exc).__name__}: {exc.strerror or exc}")
                except BaseException as exc:
                    self._keep_error(0, peer_text(address), exc)

    def _keep_error(self, number: int, peer: str, exc: BaseException) -> None:
        self.trace.record("error", conn=number, peer=peer, detail=f"{type(exc).__name__}: {exc}")
        with self._lock:
            self._errors.append((number, peer, exc))

    # -- stop ------------------------------------------------------------------
    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Stop accepting, end every connection, close everything, and wait.

        Safe to call twice. Raises HandlerError (once) if the handler raised.
        """
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        self._stopping.set()
        deadline = time.monotonic() + timeout
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass
        late = []
        if self._thread is not None:
            self._thread.join(max(0.0, deadline - time.monotonic()))
            if self._thread.is_alive():
                late.append(self._thread.name)
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
        for thread, _ in connections:
            thread.join(max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                late.append(thread.name)
        self._close_resources()
        self.trace.record("stop")
        registry.discard(self)
        self._raise_kept_errors(late, timeout)

    def _close_resources(self) -> None:
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
                f"reading its socket cannot be woken up: make its loops end when recv() returns b''."
            )

    # -- conveniences --------------------------------------------------------
    @property
    def running(self) -> bool:
        return not self._stopped

    @property
    def host(self):
        return None if self._family == socket.AF_UNIX else self.address[0]

    @property
    def port(self):
        return None if self._family == socket.AF_UNIX else self.address[1]

    @property
    def path(self):
        return self.address if self._family == socket.AF_UNIX else None

    @property
    def connections(self) -> int:
        """How many connections the server has accepted so far."""
        return self._accepted

    @property
    def errors(self) -> list[BaseException]:
        """The exceptions the handler raised so far (stop() raises the first)."""
        with self._lock:
            return [exc for _, _, exc in self._errors]

    def __repr__(self) -> str:
        where = self.address if self._family == socket.AF_UNIX else peer_text(self.address)
        state = "running" if self.running else "stopped"
        return f"<Server {self.name} {self.transport} {where} {state}, {self._accepted} connections>"
