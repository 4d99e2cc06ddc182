"""An asyncio event loop on a background thread of its own, for async code beside a notebook.

A notebook's kernel already runs an event loop of its own, so `asyncio.run()`
cannot be called in a cell. `LoopThread` gives async code a loop of its own,
on a thread the course owns: it starts, runs coroutines handed to it from any
thread (`run()`), and stops in good order (every task cancelled and awaited,
async generators and the executor shut down, the loop closed). Loop threads
are registered, so `sockcourse.stop_all()` stops them; the shared one
(`loop_thread()`) belongs to no cell, so re-running a cell never stops it
under another cell's servers.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import threading

from . import lifecycle as registry
from .errors import HandlerError

#: Seconds that start-up and stop() may take at most.
START_TIMEOUT = 5.0
STOP_TIMEOUT = 5.0


class LoopThread(registry.Stoppable):
    """An asyncio event loop running on its own thread until `stop()`.

    Use it as a context manager, or call `stop()`; stop() is safe to call
    twice. `run(coro, timeout)` runs a coroutine on the loop from any other
    thread and returns its result.
    """

    def __init__(self, name: str = "sockcourse-asyncio"):
        self.name = name
        self.explicit_name = None  # a loop is stopped, never replaced by a namesake
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stopping = self._stopped = False
        self._lock = threading.Lock()
        self.servers: list = []  # the AsyncServers on this loop, stopped with it
        self.errors: list[BaseException] = []  # what asyncio would otherwise log from this thread
        self.leftover_tasks = 0

    def start(self) -> "LoopThread":
        self._thread = threading.Thread(target=self._main, name=self.name, daemon=True)
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT):
            raise RuntimeError(f"The asyncio loop thread {self.name!r} did not start within "
                               f"{START_TIMEOUT} s; the machine may be overloaded, try again.")
        registry.add(self)
        return self

    def _main(self) -> None:
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)
        self.loop.set_exception_handler(self._keep_error)
        self.loop.call_soon(self._ready.set)
        try:
            self.loop.run_forever()
        finally:
            # stop() has finished the tasks by now; closing here, on the loop's
            # own thread, is the one place that never races with a callback.
            self.loop.close()

    def _keep_error(self, loop, context: dict) -> None:
        # asyncio's default handler logs to stderr, which would print into
        # whichever notebook cell runs next; keep the error for the caller instead.
        error = context.get("exception") or RuntimeError(context.get("message", "asyncio error"))
        if isinstance(error, asyncio.CancelledError):
            # Python 3.11's streams report a connection task cancelled by stop() this
            # way (asyncio/streams.py asks task.exception() of a cancelled task): not a bug.
            return
        self.errors.append(error)

    @property
    def running(self) -> bool:
        return not self._stopped and self._thread is not None and self._thread.is_alive()

    def _check_running(self) -> None:
        if not self.running:
            raise RuntimeError(f"The asyncio loop thread {self.name!r} has stopped; start a new one "
                               f"with sockcourse.aio.loop_thread().")

    def submit(self, coro) -> concurrent.futures.Future:
        """Schedule a coroutine on the loop; return a concurrent Future for its result."""
        if not inspect.iscoroutine(coro):
            raise TypeError(f"Expected a coroutine, such as handler(reader, writer) or asyncio.sleep(1), "
                            f"but got {coro!r}; call the async function (with its parentheses) first.")
        try:
            self._check_running()
        except RuntimeError:
            coro.close()  # never to run: closed, so Python does not warn that it was never awaited
            raise
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def run(self, coro, timeout: float = 10.0, *, what: str = "The coroutine",
            hint: str = "pass a larger timeout="):
        """Run a coroutine on the loop, wait at most `timeout` seconds, return its result.

        `what` and `hint` word the error when time runs out.
        """
        future = self.submit(coro)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise TimeoutError(f"{what} did not finish within {timeout} s on the loop thread "
                               f"{self.name!r}, so it was cancelled; {hint}.") from None

    @property
    def finished(self) -> bool:
        """True once the loop's thread has ended (after stop())."""
        return self._thread is None or not self._thread.is_alive()

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Cancel every task, wait for them, shut the loop down and join its thread."""
        if threading.current_thread() is self._thread:
            raise RuntimeError(f"The asyncio loop thread {self.name!r} cannot stop itself from a coroutine "
                               f"running on it (it would wait for itself); call stop() from another thread, "
                               f"such as a notebook cell.")
        with self._lock:
            if self._stopping:
                return
            self._stopping = True
        first_error = None
        for server in list(self.servers):
            # Stopped first, while the loop still runs their shutdown.
            try:
                server.stop(timeout)
            except HandlerError as exc:
                first_error = first_error or exc
        self._stopped = True
        try:
            if self._thread is not None and self._thread.is_alive():
                finishing = asyncio.run_coroutine_threadsafe(self._finish(timeout), self.loop)
                try:
                    self.leftover_tasks = finishing.result(timeout + 1.0)
                except concurrent.futures.TimeoutError:
                    self.leftover_tasks = -1
                self.loop.call_soon_threadsafe(self.loop.stop)
                self._thread.join(timeout)
        finally:
            registry.discard(self)
        if first_error is not None:
            raise first_error

    async def _finish(self, timeout: float) -> int:
        """On the loop: cancel and await every other task; return how many would not end."""
        me = asyncio.current_task()
        tasks = [task for task in asyncio.all_tasks() if task is not me]
        for task in tasks:
            task.cancel()
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=timeout)
        else:
            pending = set()
        for task in tasks:
            if task.done() and not task.cancelled():
                task.exception()  # looked at, so asyncio does not log "never retrieved"
        try:
            await asyncio.wait_for(self.loop.shutdown_asyncgens(), timeout)
            await asyncio.wait_for(self.loop.shutdown_default_executor(), timeout)
        except asyncio.TimeoutError:
            pass  # a job in the executor that never ends; the thread is a daemon
        return len(pending)

    def __repr__(self) -> str:
        return f"<LoopThread {self.name} {'running' if self.running else 'stopped'}>"


_shared: LoopThread | None = None
_shared_lock = threading.Lock()


def loop_thread() -> LoopThread:
    """The course's shared loop thread, started on first use (and again after a stop)."""
    global _shared
    with _shared_lock:
        if _shared is None or not _shared.running:
            _shared = LoopThread().start()
        return _shared


def run(coro, timeout: float = 10.0):
    """Run a coroutine on the shared loop thread and return its result (at most `timeout` s)."""
    return loop_thread().run(coro, timeout)
