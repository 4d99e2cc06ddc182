"""Async servers on the course's asyncio loop thread, beside a notebook.

`serve_async(handler)` is the async twin of `sockcourse.serve()`: the handler
is `async def handler(reader, writer)` with asyncio's streams, the server runs
on the shared loop thread (`loop_thread()`), and the handle has `.address`,
`.trace` and `.stop()`, which re-raises a handler's exception.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import socket
import threading

from ..core import lifecycle as registry
from ..core.loopthread import LoopThread, loop_thread, run  # noqa: F401 (sockcourse.aio.loop_thread, ...)
from ..core.errors import HandlerError, handler_failure
from ..core.checks import check_loopback_host, check_port, check_unix_path
from ..core.binding import BoundSocket, open_socket
from ..core.addresses import peer_text
from ..core.errors import PEER_GONE
from ..core.trace import Trace

from ..core.limits import START_TIMEOUT, STOP_TIMEOUT

#: The transports an asyncio streams server can listen on.
_TRANSPORTS = ("tcp", "unix")


# -- serve_async ---------------------------------------------------------------------
def serve_async(handler, *, transport: str = "tcp", host: str | None = None, port: int = 0,
                path=None, backlog: int = 128, idle_timeout: float | None = 300.0,
                name: str | None = None, trace: bool = True) -> "AsyncServer":
    """Start an asyncio streams server for `handler` on the shared loop thread; return its handle.

    handler: `async def handler(reader, writer)`, called for each connection
        with an asyncio.StreamReader and StreamWriter; the writer is closed
        when it returns.
    transport: "tcp" or "unix"; host, port, path, backlog and name as in serve().
    idle_timeout: seconds a connection may wait in one read before it is closed
        (None: no limit; stop() ends it anyway).
    trace: record each read and write in `server.trace` (turn off for big loads).
    """
    if not inspect.iscoroutinefunction(handler):
        hint = ("it is a plain function: for those use sockcourse.serve()" if callable(handler)
                else "write one with `async def handler(reader, writer):`")
        raise TypeError(f"The handler must be an async function, `async def handler(reader, writer)`, "
                        f"but got {handler!r}; {hint}.")
    if transport not in _TRANSPORTS:
        raise ValueError(f"Unknown transport {transport!r} for an asyncio streams server; expected "
                         f"'tcp' or 'unix' (for datagrams use sockcourse.serve()).")
    if transport == "unix":
        if host is not None or port != 0:
            raise ValueError(f"A 'unix' server is named by a path, not by host and port (got host={host!r}, "
                             f"port={port!r}); pass path='...' or nothing at all.")
        if path is not None:
            path = check_unix_path(path)
    else:
        if path is not None:
            raise ValueError(f"A 'tcp' server listens on a host and port, not on a path (got path={path!r}); "
                             f"use transport='unix' for a path.")
        host = check_loopback_host("127.0.0.1" if host is None else host)
        port = check_port(port)
    if isinstance(backlog, bool) or not isinstance(backlog, int) or backlog < 0:
        raise ValueError(f"The backlog must be a whole number of 0 or more, but got {backlog!r}; the default is 128.")
    if idle_timeout is not None and (isinstance(idle_timeout, bool) or not isinstance(idle_timeout, (int, float))
                                     or idle_timeout <= 0):
        raise ValueError(f"The idle_timeout must be a positive number of seconds or None, but got "
                         f"{idle_timeout!r}; for example idle_timeout=5.0.")
    if name is not None:
        registry.stop_named(name)
    server = AsyncServer(handler, transport=transport, host=host, port=port, path=path, backlog=backlog,
                         idle_timeout=idle_timeout, name=name, trace=trace)
    server._start(loop_thread())
    registry.add(server)
    return server


class _TracedReader:
    """A StreamReader whose reads are written down in a trace (everything else passes through)."""

    def __init__(self, reader: asyncio.StreamReader, record, idle_timeout):
        self._reader, self._record, self._idle = reader, record, idle_timeout

    async def _timed(self, call, kind_if_empty="eof"):
        data = await asyncio.wait_for(call, self._idle) if self._idle else await call
        self._record("recv" if data else kind_if_empty, data=data)
        return data

    def read(self, n: int = -1):
        return self._timed(self._reader.read(n))

    def readline(self):
        return self._timed(self._reader.readline())

    def readexactly(self, n: int):
        return self._timed(self._reader.readexactly(n))

    def readuntil(self, separator: bytes = b"\n"):
        return self._timed(self._reader.readuntil(separator))

    def __aiter__(self):
        return self

    async def __anext__(self) -> bytes:
        line = await self.readline()
        if not line:
            raise StopAsyncIteration
        return line

    def __getattr__(self, name):
        return getattr(self._reader, name)


class _TracedWriter:
    """A StreamWriter whose writes are written down in a trace (everything else passes through)."""

    def __init__(self, writer: asyncio.StreamWriter, record):
        self._writer, self._record = writer, record

    def write(self, data) -> None:
        self._writer.write(data)
        self._record("send", data=bytes(data))

    def writelines(self, lines) -> None:
        for line in lines:
            self.write(line)

    def write_eof(self) -> None:
        self._writer.write_eof()
        self._record("shutdown", detail="SHUT_WR")

    def __getattr__(self, name):
        return getattr(self._writer, name)


class AsyncServer(registry.Stoppable):
    """A running asyncio streams server: its address, its trace, and stop().

    Like `sockcourse.Server`: use it in a `with` block or call `stop()`
    (safe twice); stop() re-raises, once, an exception the handler raised.
    """

    def __init__(self, handler, *, transport, host, port, path, backlog, idle_timeout, name, trace):
        self.handler = handler
        self.transport = transport
        self.name = name or getattr(handler, "__name__", "handler")
        self.explicit_name = name
        self.trace = Trace()
        self._tracing = trace
        self._host, self._requested_port, self._path = host, port, path
        self._backlog, self._idle = backlog, idle_timeout
        self._bound: BoundSocket | None = None  # the socket file and its folder, cleaned up at stop
        self._loop_thread: LoopThread | None = None
        self._server: asyncio.AbstractServer | None = None
        self._tasks: set[asyncio.Task] = set()
        self._writers: set = set()
        self._accepted = 0
        self._errors: list[tuple[int, str, BaseException]] = []
        self._stopped = False
        self._lock = threading.Lock()
        self.address = None

    # -- start ----------------------------------------------------------------
    def _start(self, loop_thread: LoopThread) -> None:
        self._loop_thread = loop_thread
        sock = self._bind()
        loop_thread.servers.append(self)
        try:
            loop_thread.run(self._open(sock), timeout=START_TIMEOUT)
        except BaseException:
            sock.close()
            self._remove_path()
            raise
        self.trace.record("listen", peer=peer_text(self.address))

    def _bind(self) -> socket.socket:
        # Bound here, in the caller's thread, so that a bad address fails in the
        # cell that asked for it, with a sentence rather than a loop's traceback.
        family = socket.AF_UNIX if self.transport == "unix" else (
            socket.AF_INET6 if ":" in self._host else socket.AF_INET)
        self._bound = open_socket(family, socket.SOCK_STREAM, host=self._host, port=self._requested_port,
                                  path=self._path, backlog=self._backlog)
        self._path, self.address = self._bound.path, self._bound.address
        self._bound.sock.setblocking(False)
        return self._bound.sock

    async def _open(self, sock: socket.socket) -> None:
        if self.transport == "unix":
            self._server = await asyncio.start_unix_server(self._connection, sock=sock)
        else:
            self._server = await asyncio.start_server(self._connection, sock=sock)

    # -- one connection (on the loop thread: record, never print) ---------------
    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        with self._lock:
            self._accepted += 1
            number = self._accepted
        self._tasks.add(task)
        self._writers.add(writer)
        peername = writer.get_extra_info("peername")
        peer = peer_text(peername) if self.transport == "tcp" else f"client #{number}"
        self.trace.record("accept", conn=number, peer=peer)

        def record(kind, **fields):
            if self._tracing or kind not in ("recv", "send"):
                self.trace.record(kind, conn=number, peer=peer, **fields)

        try:
            await self.handler(_TracedReader(reader, record, self._idle), _TracedWriter(writer, record))
            await writer.drain()
        except asyncio.CancelledError:
            pass  # stop() ends the connection; not the handler's fault
        except (asyncio.TimeoutError, TimeoutError):
            self.trace.record("timeout", conn=number, peer=peer, detail=f"idle for {self._idle} s")
        except PEER_GONE as exc:
            self.trace.record("reset", conn=number, peer=peer, detail=f"{type(exc).__name__}: {exc}")
        except asyncio.IncompleteReadError as exc:
            self.trace.record("eof", conn=number, peer=peer,
                              detail=f"the peer closed after {len(exc.partial)} of {exc.expected} bytes")
        except BaseException as exc:  # the handler's bug: keep it for stop()
            self.trace.record("error", conn=number, peer=peer, detail=f"{type(exc).__name__}: {exc}")
            self._errors.append((number, peer, exc))
        finally:
            await self._close_writer(writer)
            self.trace.record("close", conn=number, peer=peer)
            self._writers.discard(writer)
            self._tasks.discard(task)

    @staticmethod
    async def _close_writer(writer) -> None:
        writer.close()
        try:
            await asyncio.wait_for(writer.wait_closed(), 1.0)
        except (OSError, asyncio.TimeoutError, asyncio.CancelledError):
            pass  # the peer is gone already, or we are being stopped: the socket is closed either way

    # -- stop -------------------------------------------------------------------
    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Stop accepting, end every connection, close everything. Safe twice."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        late = 0
        try:
            if self._loop_thread is not None and self._loop_thread.running:
                try:
                    late = self._loop_thread.run(self._shut(timeout), timeout=timeout + 1.0)
                except TimeoutError:
                    late = len(self._tasks)
        finally:
            self._remove_path()
            self.trace.record("stop")
            if self._loop_thread is not None and self in self._loop_thread.servers:
                self._loop_thread.servers.remove(self)
            registry.discard(self)
        self._raise_kept_errors(late, timeout)

    async def _shut(self, timeout: float) -> int:
        if self._server is not None:
            self._server.close()  # closes the listening socket
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=timeout)
            return len(pending)
        return 0

    def _remove_path(self) -> None:
        if self._bound is not None:
            self._bound.remove_path()

    def _raise_kept_errors(self, late: int, timeout: float) -> None:
        if self._errors:
            raise handler_failure(self.name, self._errors)
        if late:
            raise HandlerError(
                f"The server {self.name!r} stopped, but {late} of its connections were still busy {timeout} s "
                f"after being cancelled; a handler must not swallow asyncio.CancelledError."
            )

    # -- conveniences -------------------------------------------------------------
    @property
    def running(self) -> bool:
        return not self._stopped

    @property
    def host(self):
        return None if self.transport == "unix" else self.address[0]

    @property
    def port(self):
        return None if self.transport == "unix" else self.address[1]

    @property
    def path(self):
        return self.address if self.transport == "unix" else None

    @property
    def connections(self) -> int:
        """How many connections the server has accepted so far."""
        return self._accepted

    def __repr__(self) -> str:
        where = self.address if self.transport == "unix" else peer_text(self.address)
        state = "running" if self.running else "stopped"
        return f"<AsyncServer {self.name} {self.transport} {where} {state}, {self._accepted} connections>"

