"""Async servers on the course's asyncio loop thread, beside a notebook.

`serve_async(handler)` is the async twin of `sockcourse.serve()`: the handler
is `async def handler(reader, writer)` with asyncio's streams, the server runs
on the shared loop thread (`loop_thread()`), and the handle has `.address`,
`.trace` and `.stop()`, which re-raises a handler's exception.

Who is at fault is decided as in `serve()`, and written into the trace:
- the peer's doing (it reset, went silent past `idle_timeout` in a read, or
  closed in the middle of a `readexactly()`) is recorded and never raised;
- the handler's bug (any other exception, including a timeout or a reset
  from something else it awaited, such as an upstream connection of its own)
  is kept and raised at `stop()`.
"""

from __future__ import annotations

import asyncio
import inspect
import socket

from ..core.addresses import family_for, peer_text
from ..core.binding import BoundSocket, open_socket
from ..core.checks import (check_backlog, check_choice, check_flag, check_listen_address, check_seconds)
from ..core.errors import (PEER_GONE, ArgumentError, ArgumentTypeError, Fault, HandlerError, NotRunningError,
                           PeerFault, describe, handler_failure)
from ..core.lifecycle import Endpoint, stop_named
from ..core.limits import START_TIMEOUT, STOP_TIMEOUT
from ..core.loopthread import (RECANCEL_EVERY, LoopThread, TimeLimitError, cancel_and_wait,  # noqa: F401
                               loop_thread, run, within)  # sockcourse.aio.loop_thread, .run, .LoopThread: notebook spellings
from ..core.trace import Trace

__all__ = ["AsyncServer", "LoopThread", "STOP_TIMEOUT", "loop_thread", "run", "serve_async"]

#: The transports an asyncio streams server can listen on.
_TRANSPORTS = ("tcp", "unix")

#: Seconds a connection's closing may wait for the peer while the server runs on.
_CLOSE_WAIT = 1.0


# -- serve_async ---------------------------------------------------------------------
def serve_async(handler, *, transport: str = "tcp", host: str | None = None, port: int = 0,
                path=None, backlog: int = 128, idle_timeout: float | None = 300.0,
                name: str | None = None, trace: bool = True, reuse_address: bool = True,
                setup=None) -> "AsyncServer":
    """Start an asyncio streams server for `handler` on the shared loop thread; return its handle.

    handler: `async def handler(reader, writer)`, called for each connection
        with an asyncio.StreamReader and StreamWriter; the writer is closed
        when it returns.
    transport: "tcp" or "unix"; host, port, path, backlog and name as in serve().
    idle_timeout: seconds a connection may wait in one read before it is closed
        (None: no limit; stop() ends it anyway).
    trace: record each read and write in `server.trace` (turn off for big loads).
    reuse_address: set SO_REUSEADDR on a TCP listener before bind() (the
        default), so a port that an earlier run left in TIME_WAIT can be bound
        again at once; chapter 07 shows what happens without it.
    setup: None, or a function `setup(sock)` called with the listening socket
        before bind(), to set socket options of your own.
    """
    _check_handler(handler)
    if transport in ("udp", "unix_dgram"):
        raise ArgumentError(f"Unknown transport {transport!r} for an asyncio streams server: streams need a "
                            f"connection; use 'tcp' or 'unix' (for datagrams use sockcourse.serve()).")
    check_choice(transport, "transport", _TRANSPORTS, example="tcp")
    unix = transport == "unix"
    if unix and not hasattr(socket, "AF_UNIX"):
        raise ArgumentError("This OS has no UNIX sockets, so transport='unix' cannot work here; use 'tcp'.")
    host, port, path = check_listen_address(transport, host, port, path, unix=unix)
    backlog = check_backlog(backlog)
    idle_timeout = check_seconds(idle_timeout, "idle_timeout", example=5.0)
    trace = check_flag(trace, "trace")
    reuse_address = check_flag(reuse_address, "reuse_address")
    if setup is not None and not callable(setup):
        raise ArgumentTypeError(f"The setup must be a function that takes the new socket, but got {setup!r}; "
                                f"for example setup=lambda sock: sock.setsockopt(...).")
    if name is not None:
        stop_named(name)  # before binding: the namesake may hold the address asked for
    server = AsyncServer(handler, transport=transport, host=host, port=port, path=path, backlog=backlog,
                         idle_timeout=idle_timeout, name=name, trace=trace, reuse_address=reuse_address,
                         setup=setup)
    return server._launch()


def _check_handler(handler) -> None:
    name = getattr(handler, "__name__", repr(handler))
    if not (inspect.iscoroutinefunction(handler) or inspect.iscoroutinefunction(getattr(handler, "__call__", None))):
        hint = (f"{name!r} is a plain function: for those use sockcourse.serve({name})" if callable(handler)
                else "write one with `async def handler(reader, writer):`")
        raise ArgumentTypeError(f"The handler must be an async function, `async def handler(reader, writer)`, "
                                f"but got {handler!r}; {hint}.")
    try:
        inspect.signature(handler).bind(None, None)
    except TypeError:
        raise ArgumentTypeError(f"The handler {name!r} cannot be called with a reader and a writer, which is how "
                                f"serve_async() calls it; write it as `async def {name}(reader, writer):`.") from None
    except ValueError:
        pass  # no signature to read: let it try


# -- streams that write down what passes (and mark what they raised) --------------------
def _mark(exc: BaseException, marker: int) -> None:
    try:
        exc._sockcourse_stream = marker
    except (AttributeError, TypeError):
        pass  # an exception type with __slots__: it stays the handler's


def _marked(exc: BaseException, marker: int) -> bool:
    """True if `exc` came out of this connection's own streams, not from something else the handler awaited."""
    return getattr(exc, "_sockcourse_stream", None) == marker


class _TracedReader:
    """A StreamReader whose reads are written down in a trace, each within the idle limit."""

    def __init__(self, reader: asyncio.StreamReader, record, idle_timeout, marker: int):
        self._reader, self._record, self._idle, self._marker = reader, record, idle_timeout, marker

    async def _timed(self, call, kind_if_empty="eof"):
        try:
            data = await within(call, self._idle)
        except Exception as exc:
            _mark(exc, self._marker)
            raise
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

    def __init__(self, writer: asyncio.StreamWriter, record, marker: int):
        self._writer, self._record, self._marker = writer, record, marker

    def write(self, data) -> None:
        self._writer.write(data)
        self._record("send", data=bytes(data))

    def writelines(self, lines) -> None:
        for line in lines:
            self.write(line)

    def write_eof(self) -> None:
        self._writer.write_eof()
        self._record("shutdown", detail="SHUT_WR")

    async def drain(self) -> None:
        try:
            await self._writer.drain()
        except Exception as exc:
            _mark(exc, self._marker)  # a reset found while waiting to send is the peer's
            raise

    def __getattr__(self, name):
        return getattr(self._writer, name)


class AsyncServer(Endpoint):
    """A running asyncio streams server. No public constructor: use `serve_async()`.

    For the caller: `address` (with `host`/`port`, or `path`), `trace`,
    `connections` (accepted so far), `errors`, `running`, and `stop()`. Like
    `sockcourse.Server`: use it in a `with` block or call `stop()` (safe
    twice); stop() re-raises, once, an exception the handler raised. A
    handler may call `server.stop()` itself (a "quit" command): the server
    stops at once, and its kept errors stay in `errors` and the trace.
    """

    what = "server"

    def __init__(self, handler, *, transport, host, port, path, backlog, idle_timeout, name, trace,
                 reuse_address=True, setup=None):
        super().__init__(name or getattr(handler, "__name__", type(handler).__name__), name)
        self.handler = handler
        self.transport = transport
        self.trace = Trace()
        self._tracing = trace
        self._host, self._requested_port, self._path = host, port, path
        self._backlog, self._idle = backlog, idle_timeout
        self._reuse_address, self._setup = reuse_address, setup
        self._bound: BoundSocket | None = None  # the socket file and its folder, cleaned up at stop
        self._loop_thread: LoopThread | None = None
        self._server: asyncio.AbstractServer | None = None
        self._tasks: dict[asyncio.Task, asyncio.StreamWriter] = {}  # each connection's task and its writer
        self._closing = False  # set on the loop when stopping begins: late connections are turned away
        self._accepted = 0
        self._errors: list[tuple[int, str, BaseException]] = []

    # -- start ----------------------------------------------------------------
    def _start(self) -> None:
        # Bound here, in the caller's thread, so that a bad address fails in the
        # cell that asked for it, with a sentence rather than a loop's traceback.
        family = socket.AF_UNIX if self.transport == "unix" else family_for(self._host)
        self._bound = open_socket(family, socket.SOCK_STREAM, host=self._host, port=self._requested_port,
                                  path=self._path, backlog=self._backlog, reuse_address=self._reuse_address,
                                  setup=self._setup)
        self.address = self._bound.address
        self._bound.sock.setblocking(False)
        self._loop_thread = loop_thread()
        self._adopt_thread(self._loop_thread.thread)  # its coroutines are this server's handlers
        self._loop_thread.servers.append(self)
        self._loop_thread.run(self._open(self._bound.sock), timeout=START_TIMEOUT,
                              what=f"Starting the asyncio server {self.name!r}",
                              hint="the loop thread may be blocked by a coroutine that never awaits")
        self.trace.record("listen", peer=peer_text(self.address))

    async def _open(self, sock: socket.socket) -> None:
        if self.transport == "unix":
            self._server = await asyncio.start_unix_server(self._connection, sock=sock)
        else:
            self._server = await asyncio.start_server(self._connection, sock=sock)

    # -- one connection (on the loop thread: record, never print) ---------------
    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._closing:
            writer.transport.abort()  # accepted just as stop() began: no handler for it
            return
        task = asyncio.current_task()
        self._accepted += 1  # only ever on the loop thread, so no lock
        number = self._accepted
        self._tasks[task] = writer
        peer = peer_text(writer.get_extra_info("peername")) if self.transport == "tcp" else f"client #{number}"
        self.trace.record("accept", conn=number, peer=peer)

        def record(kind, **fields):
            if self._tracing or kind not in ("recv", "send"):
                self.trace.record(kind, conn=number, peer=peer, **fields)

        marker = id(task)
        streams = _TracedReader(reader, record, self._idle, marker), _TracedWriter(writer, record, marker)
        stopped = False
        try:
            await self.handler(*streams)
            await streams[1].drain()
        except asyncio.CancelledError:
            stopped = True  # stop() ends the connection; not the handler's fault
        except BaseException as exc:  # noqa: BLE001 - sorted by whose doing it is
            self._sort_out(number, peer, exc, marker)
        finally:
            await self._close_writer(writer, at_once=stopped)
            self.trace.record("close", conn=number, peer=peer)
            self._tasks.pop(task, None)

    def _sort_out(self, number: int, peer: str, exc: BaseException, marker: int) -> None:
        """Record how a connection ended: as the peer's doing, or as the handler's error (kept for stop())."""
        if self._closing and (isinstance(exc, asyncio.IncompleteReadError)
                              or isinstance(exc, OSError) and _marked(exc, marker)):
            pass  # stop() closed the connection under the handler: the end it asked for
        elif isinstance(exc, TimeoutError) and _marked(exc, marker):
            self.trace.record("timeout", conn=number, peer=peer, detail=f"idle for {self._idle} s",
                              error=exc, fault=Fault.PEER)
        elif isinstance(exc, PEER_GONE) and _marked(exc, marker):
            self.trace.record("reset", conn=number, peer=peer, detail=describe(exc), error=exc, fault=Fault.PEER)
        elif isinstance(exc, asyncio.IncompleteReadError):
            self.trace.record("eof", conn=number, peer=peer, error=exc, fault=Fault.PEER,
                              detail=f"the peer closed after {len(exc.partial)} of {exc.expected} bytes")
        elif isinstance(exc, PeerFault):
            self.trace.record("eof", conn=number, peer=peer, detail=describe(exc), error=exc, fault=Fault.PEER)
        else:
            # The handler's own bug, or a timeout or reset from something else it
            # awaited (an upstream of its own): its doing, kept for stop().
            self.trace.record("error", conn=number, peer=peer, detail=describe(exc), error=exc,
                              fault=Fault.HANDLER)
            self._errors.append((number, peer, exc))

    @staticmethod
    async def _close_writer(writer, at_once: bool) -> None:
        if at_once:
            writer.transport.abort()  # stopped: close now, without waiting for a busy peer to read
            return
        writer.close()
        try:
            await within(writer.wait_closed(), _CLOSE_WAIT)
        except (OSError, asyncio.CancelledError):  # TimeoutError is an OSError
            pass  # the peer is gone already, or we are being stopped: the socket is closed either way

    # -- stop -------------------------------------------------------------------
    def _stop(self, timeout: float) -> None:
        """Stop accepting, end every connection, wait for their tasks (not from the loop itself)."""
        late = 0
        if self.in_own_thread():
            # A handler (or another coroutine on the loop) stops the server: it cannot
            # wait for the loop it runs on, so the ending is done now and not awaited.
            self._shut_now()
        else:
            try:
                late = self._loop_thread.run(self._shut(timeout), timeout=timeout + 1.0,
                                             what=f"Stopping the asyncio server {self.name!r}",
                                             hint="the loop thread is blocked by a coroutine that never awaits")
            except NotRunningError:
                pass  # the loop is ending: it cancels this server's tasks itself
            except TimeLimitError:
                late = len(self._tasks)
        self.trace.record("stop")
        if not self.in_own_thread():
            self._raise_kept_errors(late, timeout)

    def _shut_now(self) -> list[asyncio.Task]:
        """On the loop: close the listening socket and cancel the connections' tasks (but the caller's own)."""
        self._closing = True
        if self._server is not None:
            self._server.close()
        me = asyncio.current_task()
        tasks = [task for task in self._tasks if task is not me]
        for task in tasks:
            task.cancel()
        return tasks

    async def _shut(self, timeout: float) -> int:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        pending = await cancel_and_wait(self._shut_now(), min(RECANCEL_EVERY, timeout))
        for task in pending:
            # Still running after the first cancellation: close its connection too,
            # as serve() shuts a socket down, so a handler whose own wait_for() keeps
            # dropping the cancellation finds the stream at its end instead.
            writer = self._tasks.get(task)
            if writer is not None:
                writer.transport.abort()
        return len(await cancel_and_wait(pending, max(deadline - loop.time(), 0.0)))

    def _close(self) -> None:
        loop_thread = self._loop_thread
        if loop_thread is not None and self in loop_thread.servers:
            loop_thread.servers.remove(self)
        if self._bound is None:
            return
        if self._bound.sock.fileno() != -1:  # still open: stop() could not reach the loop
            if self._server is not None and not loop_thread.finished and not self.in_own_thread():
                try:
                    # Closed by the loop, so its selector forgets the socket before the number is reused.
                    loop_thread.loop.call_soon_threadsafe(self._server.close)
                except RuntimeError:
                    self._bound.sock.close()  # the loop closed in the meantime
            elif self._server is not None and self.in_own_thread():
                self._server.close()
            else:
                self._bound.sock.close()  # asyncio never took it over, or its loop is gone
        self._bound.remove_path()

    def _raise_kept_errors(self, late: int, timeout: float) -> None:
        if self._errors:
            raise handler_failure(self.name, self._errors)
        if late:
            raise HandlerError(
                f"The server {self.name!r} stopped, but {late} of its connections were still busy {timeout} s "
                f"after being cancelled again and again; a handler must not swallow asyncio.CancelledError "
                f"(clean up in `finally:`, or re-raise it).")

    # -- conveniences -------------------------------------------------------------
    @property
    def connections(self) -> int:
        """How many connections the server has accepted so far."""
        return self._accepted

    #: The name `sockcourse.Server` uses for the same count.
    accepted = connections

    @property
    def errors(self) -> list[BaseException]:
        """The exceptions the handler raised so far (stop() raises the first)."""
        return [exc for _, _, exc in list(self._errors)]

    def _where(self) -> str:
        return self.address if self.transport == "unix" else super()._where()

    def _more(self) -> str:
        return f", {self._accepted} connections"
