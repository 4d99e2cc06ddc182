"""The harness that runs a server model in the background: `start(model)` and its handle, ModelServer.

A model is a function `serve(listener, stop)` (see the package docstring).
The harness makes the listening socket with `core.binding.open_socket`, as
every course server does, runs the model on a thread (or, for an `async def`
model, on an asyncio loop thread of its own) and, at `stop()`, sets `stop`,
shuts down the connections the model still holds and waits for it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import socket
import threading
import time
import weakref

from ...core.addresses import family_for
from ...core.binding import open_socket
from ...core.checks import check_backlog, check_flag, check_loopback_host
from ...core.errors import ArgumentError, ArgumentTypeError, HandlerError, describe
from ...core.lifecycle import Endpoint, stop_named
from ...core.limits import STOP_TIMEOUT
from ...core.loopthread import LoopThread, TimeLimitError
from . import asyncio_streams, iterative, selector_loop, threads

__all__ = ["BACKLOG", "MODELS", "MODULES", "ModelServer", "STOP_TIMEOUT", "resolve", "source", "start"]

#: The models by the name the course uses for them, in the order the notebook shows them.
#: Its keys are the one list of model names.
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
BACKLOG = asyncio_streams.ACCEPT_QUEUE

#: How often stop() shuts down again what a thread model accepted while it was being stopped (seconds).
_RESHUT_EVERY = 0.1


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
            raise ArgumentError(f"Unknown server model {model!r}; expected one of "
                                f"{', '.join(map(repr, MODELS))}, for example 'threads'.")
        return model, MODELS[model]
    if not callable(model):
        raise ArgumentTypeError(f"A server model must be a name such as 'threads' or a function "
                                f"serve(listener, stop), but got {model!r} (type {type(model).__name__}).")
    name = getattr(model, "__name__", type(model).__name__)
    try:
        parameters = inspect.signature(model).parameters
    except (TypeError, ValueError):
        parameters = None
    if parameters is not None and len(parameters) != 2:
        raise ArgumentTypeError(f"A server model is called as serve(listener, stop), but {name} takes "
                                f"{len(parameters)} arguments ({', '.join(parameters)}); give it exactly those two.")
    # A function made by exec() (or in some front ends) may have no module name.
    return (getattr(model, "__module__", None) or "model").rsplit(".", 1)[-1] + "." + name, model


def start(model, *, host: str = "127.0.0.1", backlog: int = BACKLOG, name: str | None = None,
          reuse_address: bool = True) -> "ModelServer":
    """Start `model` (a name from MODELS, or a function) on a listening socket; return its handle.

    host: a loopback address, "127.0.0.1" (the default) or "::1"; the port is
        always chosen by the kernel.
    backlog: the accept queue asked of listen().
    name: a model started with the same name as a running thing replaces it.
    reuse_address: set SO_REUSEADDR on the listener before bind() (the
        default), so a port that an earlier run left in TIME_WAIT can be bound
        again at once; chapter 07 shows what happens without it.
    """
    model_name, function = resolve(model)
    host = check_loopback_host(host)
    backlog = check_backlog(backlog, default=BACKLOG)
    reuse_address = check_flag(reuse_address, "reuse_address")
    if name is not None:
        stop_named(name)
    server = ModelServer(model_name, function, host=host, backlog=backlog, name=name, reuse_address=reuse_address)
    return server._launch()


class ModelServer(Endpoint):
    """A server model running in the background. No public constructor: use `start()`.

    For the caller: `address` (with `host` and `port`), `model` (its name),
    `is_async`, `running`, and `stop()`, which raises HandlerError (once) if
    the model raised or would not return in time. Use it in a `with` block
    or call `stop()`; stop() is safe twice.
    """

    what = "server model"

    def __init__(self, model_name: str, function, *, host: str, backlog: int, name: str | None,
                 reuse_address: bool = True):
        super().__init__(name or model_name, name)
        self.model = model_name
        self.function = function
        self.is_async = inspect.iscoroutinefunction(function)
        self._host, self._backlog, self._reuse_address = host, backlog, reuse_address
        self._listener: _Listener | None = None
        self._thread: threading.Thread | None = None
        self._loop_thread: LoopThread | None = None
        self._future = None
        self._stop_event = None
        self._error: BaseException | None = None

    def _start(self) -> None:
        bound = open_socket(family_for(self._host), socket.SOCK_STREAM, host=self._host, port=0,
                            backlog=self._backlog, what="server model", reuse_address=self._reuse_address)
        self._listener = _Listener(bound.sock)
        self.address = bound.address
        if self.is_async:
            # A loop of its own: stopping it also ends the connections' tasks,
            # which the model's own code does not keep track of.
            self._loop_thread = LoopThread(name=f"sockcourse-model-{self.name}").start()
            self._stop_event = self._loop_thread.run(_new_event())
            self._future = self._loop_thread.submit(self.function(self._listener, self._stop_event))
        else:
            self._stop_event = threading.Event()
            self._thread = self._spawn(self._run, f"sockcourse-model-{self.name}")

    def _run(self) -> None:
        try:
            self.function(self._listener, self._stop_event)
        except BaseException as exc:  # noqa: BLE001 - the model's bug: kept for stop(), never printed
            self._error = exc

    def _stop(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        if self.is_async:
            late = self._stop_async(timeout)
        else:
            self._stop_event.set()
            # Again and again: a model may accept one more client after the first shutdown.
            while self._thread.is_alive() and time.monotonic() < deadline and not self.in_own_thread():
                self._listener.shutdown_accepted()
                self._thread.join(min(_RESHUT_EVERY, max(deadline - time.monotonic(), 0.0)))
            late = bool(self._join_all([self._thread], deadline))
        if self._error is not None:
            raise HandlerError(f"The server model {self.name!r} raised {describe(self._error)}; its traceback, "
                               f"shown with this error, points at the line.") from self._error
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
            except (concurrent.futures.TimeoutError, TimeLimitError):
                late = True
            except BaseException as exc:  # noqa: BLE001 - the model's bug, raised by stop()
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


async def _new_event() -> asyncio.Event:
    # Made on the loop that will wait on it.
    return asyncio.Event()


def source(model) -> str:
    """The source code of a model's module, to read in full."""
    name, _ = resolve(model)
    if name not in MODULES:
        raise ArgumentError(f"Only the course's own models have a module to show; got {name!r}. "
                            f"Use inspect.getsource() on your own function.")
    return inspect.getsource(MODULES[name])
