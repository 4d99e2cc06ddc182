"""Four ways to serve the same protocol (echo), and the harness that runs any of them.

Each model is one short module, meant to be read whole in the notebook:

- `iterative`: one client at a time, from accept() to close();
- `threads`: one thread accepts, every conversation gets a thread;
- `selector_loop`: one thread, and the kernel says which sockets are ready
  (`selectors.DefaultSelector`: epoll on Linux, kqueue on BSD and macOS);
- `asyncio_streams`: one event loop, a coroutine per client
  (`asyncio.start_server`).

A model is a function `serve(listener, stop)` that gets a listening socket
and serves until `stop` is set: a `threading.Event` for plain functions, an
`asyncio.Event` for `async def` ones. `start(model)` makes the listening
socket, runs the model on a background thread (or on an asyncio loop thread
of its own) and returns a handle with `.address` and `.stop()`, like
`sockcourse.serve()`. A learner's own function with the same shape runs too.

The listening socket a model gets is a real socket that also remembers the
connections it accepted, so that `stop()` can shut down those still open:
that wakes a thread blocked in recv(), which `stop` alone could not reach.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import socket
import threading
import weakref

from ...core import lifecycle as registry
from ..aio import LoopThread
from ...core.errors import HandlerError
from ...core.checks import check_loopback_host
from ...core.addresses import peer_text
from . import asyncio_streams, iterative, selector_loop, threads

#: The models by the name the course uses for them, in the order the notebook shows them.
MODELS = {
    "iterative": iterative.serve,
    "threads": threads.serve,
    "selectors": selector_loop.serve,
    "asyncio": asyncio_streams.serve,
}

#: The modules that hold them, for showing their source.
MODULES = {"iterative": iterative, "threads": threads, "selectors": selector_loop,
           "asyncio": asyncio_streams}

#: The accept queue every model gets (listen(2) caps it at net.core.somaxconn).
BACKLOG = asyncio_streams.BACKLOG

#: Seconds stop() waits for a model to return.
STOP_TIMEOUT = 5.0


class _Listener(socket.socket):
    """A listening socket (the very same kernel object) that remembers what accept() returned."""

    def __init__(self, sock: socket.socket):
        super().__init__(sock.family, sock.type, sock.proto, fileno=sock.detach())
        self._accepted = weakref.WeakSet()
        self._accepted_lock = threading.Lock()

    def accept(self):
        conn, address = super().accept()
        with self._accepted_lock:
            self._accepted.add(conn)
        return conn, address

    def shutdown_accepted(self) -> int:
        """Shut down every accepted socket still open; return how many."""
        with self._accepted_lock:
            conns = [conn for conn in self._accepted if conn.fileno() != -1]
        ended = 0
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
                ended += 1
            except OSError:
                pass  # closed by the model in the meantime
        return ended


def resolve(model) -> tuple[str, object]:
    """(name, function) for a model given by name or as a function; a clear error otherwise."""
    if isinstance(model, str):
        if model not in MODELS:
            raise ValueError(f"Unknown server model {model!r}; expected one of "
                             f"{', '.join(map(repr, MODELS))}, for example 'threads'.")
        return model, MODELS[model]
    if not callable(model):
        raise TypeError(f"A server model must be a name such as 'threads' or a function serve(listener, stop), "
                        f"but got {model!r} (a {type(model).__name__}).")
    try:
        parameters = inspect.signature(model).parameters
    except (TypeError, ValueError):
        parameters = None
    if parameters is not None and len(parameters) != 2:
        raise TypeError(f"A server model is called as serve(listener, stop), but {model.__name__} takes "
                        f"{len(parameters)} arguments ({', '.join(parameters)}); give it exactly those two.")
    return getattr(model, "__module__", "model").rsplit(".", 1)[-1] + "." + model.__name__, model


def start(model, *, host: str = "127.0.0.1", backlog: int = BACKLOG, name: str | None = None) -> "ModelServer":
    """Start `model` (a name from MODELS, or a function) on a listening socket; return its handle."""
    model_name, function = resolve(model)
    host = check_loopback_host(host)
    if isinstance(backlog, bool) or not isinstance(backlog, int) or backlog < 0:
        raise ValueError(f"The backlog must be a whole number of 0 or more, but got {backlog!r}; "
                         f"the default is {BACKLOG}.")
    if name is not None:
        registry.stop_named(name)
    server = ModelServer(model_name, function, host=host, backlog=backlog, name=name)
    server._start()
    registry.add(server)
    return server


class ModelServer(registry.Stoppable):
    """A server model running in the background: `.address`, `.stop()`, a `with` block."""

    def __init__(self, model_name: str, function, *, host: str, backlog: int, name: str | None):
        self.model = model_name
        self.function = function
        self.name = name or model_name
        self.explicit_name = name
        self.is_async = inspect.iscoroutinefunction(function)
        self._host, self._backlog = host, backlog
        self._listener: _Listener | None = None
        self._thread: threading.Thread | None = None
        self._loop_thread: LoopThread | None = None
        self._future = None
        self._stop_event = None
        self._error: BaseException | None = None
        self._stopped = False
        self._lock = threading.Lock()
        self.address = None

    def _start(self) -> None:
        family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
        self._listener = _Listener(socket.create_server((self._host, 0), family=family, backlog=self._backlog))
        try:
            self.address = self._listener.getsockname()[:2]
            if self.is_async:
                # A loop of its own: stopping it also ends the connections' tasks,
                # which the model's own code does not keep track of.
                self._loop_thread = LoopThread(name=f"sockcourse-model-{self.name}").start()
                self._stop_event = self._loop_thread.run(_new_event())
                self._future = self._loop_thread.submit(self.function(self._listener, self._stop_event))
            else:
                self._stop_event = threading.Event()
                self._thread = threading.Thread(target=self._run, name=f"sockcourse-model-{self.name}",
                                                daemon=True)
                self._thread.start()
        except BaseException:
            self._close()
            raise

    def _run(self) -> None:
        try:
            self.function(self._listener, self._stop_event)
        except BaseException as exc:  # the model's bug: kept for stop(), never printed
            self._error = exc

    @property
    def running(self) -> bool:
        return not self._stopped

    @property
    def host(self) -> str:
        return self.address[0]

    @property
    def port(self) -> int:
        return self.address[1]

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Ask the model to stop, wait for it, close the listening socket. Safe twice.

        Raises HandlerError (once) if the model raised, or would not stop in time.
        """
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        late = False
        try:
            if self.is_async:
                late = self._stop_async(timeout)
            elif self._thread is not None:
                self._stop_event.set()
                self._listener.shutdown_accepted()
                self._thread.join(timeout)
                late = self._thread.is_alive()
        finally:
            self._close()
            registry.discard(self)
        if self._error is not None:
            raise HandlerError(f"The server model {self.name!r} raised {type(self._error).__name__}: "
                               f"{self._error}; its traceback, shown with this error, points at the line.") \
                from self._error
        if late:
            raise HandlerError(f"The server model {self.name!r} did not return within {timeout} s of being "
                               f"asked to stop; its loops must look at `stop` now and then (use timeouts).")

    def _stop_async(self, timeout: float) -> bool:
        loop_thread = self._loop_thread
        late = False
        if loop_thread.running and self._future is not None:
            loop_thread.loop.call_soon_threadsafe(self._stop_event.set)
            try:
                self._future.result(timeout)
            except concurrent.futures.TimeoutError:
                late = True
            except BaseException as exc:
                self._error = exc
        loop_thread.stop(timeout)
        if self._error is None and loop_thread.errors:
            self._error = loop_thread.errors[0]
        return late

    def _close(self) -> None:
        if self._loop_thread is not None and self._loop_thread.running:
            self._loop_thread.stop()
        if self._listener is not None:
            self._listener.close()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<ModelServer {self.name} {peer_text(self.address)} {state}>"


async def _new_event() -> asyncio.Event:
    # Made on the loop that will wait on it.
    return asyncio.Event()


def source(model) -> str:
    """The source code of a model's module, to read in full."""
    name, _ = resolve(model)
    if name not in MODULES:
        raise ValueError(f"Only the course's own models have a module to show; got {name!r}. "
                         f"Use inspect.getsource() on your own function.")
    return inspect.getsource(MODULES[name])
