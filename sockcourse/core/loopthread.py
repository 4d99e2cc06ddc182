"""An asyncio event loop on a background thread of its own, for async code beside a notebook.

A notebook's kernel already runs an event loop of its own, so `asyncio.run()`
cannot be called in a cell. `LoopThread` gives async code a loop of its own,
on a thread the course owns: it starts, runs coroutines handed to it from any
thread (`run()`), and stops in good order (every task cancelled and awaited,
async generators and the executor shut down, the loop closed).

Loop threads are registered, so `sockcourse.stop_all()` stops them. The
shared one (`loop_thread()`, where `serve_async()` servers run) belongs to no
notebook cell: re-running the cell that happened to start it stops that
cell's servers, never the loop under every other cell's. A private loop
thread (a server model's own) belongs to the cell that started it.

Two helpers for coroutines on such a loop live here too: `within()` puts a
time limit on one await without losing a cancellation (which
`asyncio.wait_for` does on Python 3.11), and `cancel_and_wait()` ends tasks
and tells which ones truly refused to end.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import sys
import threading
import time

from .checks import check_seconds
from .errors import ArgumentTypeError, NotRunningError, SockcourseError, TimeLimitError, UsageError
from .lifecycle import Stoppable
from .limits import START_TIMEOUT

__all__ = ["LoopThread", "TimeLimitError", "cancel_and_wait", "loop_thread", "run", "within"]

#: While tasks are being stopped, each one still running is cancelled again this
#: often (seconds): one cancellation lost in a race must not look like a task
#: that refuses to end.
RECANCEL_EVERY = 0.05


class LoopThread(Stoppable):
    """An asyncio event loop running on its own thread until `stop()`.

    For the caller: `run(coro, timeout)` runs a coroutine on the loop from
    any other thread and returns its result; `submit(coro)` schedules one and
    returns a concurrent Future; `loop` is the event loop itself; `running`,
    `finished`, `errors` (what asyncio would have logged) and `stop()`. Use
    it in a `with` block or call `stop()`; stop() is safe twice, and a
    coroutine on the loop may call it too (the loop then ends once that
    coroutine has returned). The shared loop comes from `loop_thread()`; make
    a private one with `LoopThread(name).start()`.
    """

    what = "asyncio loop thread"

    def __init__(self, name: str = "sockcourse-asyncio", *, shared: bool = False):
        super().__init__(name)  # no explicit name: a loop is stopped, never replaced by a namesake
        self.shared = shared
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._finishing = False  # set once the loop's last tasks are being ended: no new work
        self.servers: list = []  # the AsyncServers on this loop, stopped with it
        self.errors: list[BaseException] = []  # what asyncio would otherwise log from this thread
        self.leftover_tasks = 0

    def start(self) -> "LoopThread":
        """Start the loop's thread and return once the loop runs (a private loop's one way in)."""
        return self._launch()

    # -- the lifecycle ---------------------------------------------------------------
    def _start(self) -> None:
        # Made here, so _close() always has the loop to stop or close, even if
        # the thread never got as far as running it.
        self.loop = asyncio.new_event_loop()
        self.loop.set_exception_handler(self._keep_error)
        self.loop.call_soon(self._ready.set)
        self._thread = self._spawn(self._main, self.name)
        if not self._ready.wait(START_TIMEOUT):
            raise SockcourseError(f"The asyncio loop thread {self.name!r} did not start within {START_TIMEOUT} s; "
                                  f"the machine may be overloaded, try again.")

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_forever()
        finally:
            # The tasks are finished by now; closing here, on the loop's own
            # thread, is the one place that never races with a callback.
            self.loop.close()

    def _stop(self, timeout: float) -> None:
        """Stop the servers on the loop, end every task, stop the loop and join its thread."""
        deadline = time.monotonic() + timeout
        first_error = None
        for server in list(self.servers):
            # First, while the loop still runs their shutdown; each gets what is left of the time.
            try:
                server.stop(max(deadline - time.monotonic(), RECANCEL_EVERY))
            except Exception as exc:  # noqa: BLE001 - the loop must stop all the same; raised below
                first_error = first_error or exc
        self._finishing = True
        if self.in_own_thread():
            # A coroutine on this loop asked for the stop: nothing here may wait for
            # the loop, so the ending is scheduled on it and runs once that coroutine yields.
            ending = self.loop.create_task(self._finish(timeout))
            ending.add_done_callback(self._after_finish)
        elif self._thread is not None and self._thread.is_alive():
            left = max(deadline - time.monotonic(), RECANCEL_EVERY)
            ending = asyncio.run_coroutine_threadsafe(self._finish(left), self.loop)
            try:
                self.leftover_tasks = ending.result(left + 1.0)
            except concurrent.futures.TimeoutError:
                self.leftover_tasks = -1  # the loop itself is stuck (a blocking call in a coroutine)
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(max(deadline - time.monotonic(), 0.0) + 1.0)
        if first_error is not None:
            raise first_error

    def _after_finish(self, ending: asyncio.Task) -> None:
        try:
            self.leftover_tasks = ending.result()
        except BaseException as exc:  # noqa: BLE001 - kept like any error on the loop; the loop stops anyway
            self.leftover_tasks = -1
            self.errors.append(exc)
        finally:
            self.loop.stop()

    def _close(self) -> None:
        self._finishing = True
        loop, thread = self.loop, self._thread
        if loop is None:
            return
        if thread is not None and thread.is_alive():
            if thread is threading.current_thread():
                return  # the loop closes itself once run_forever() returns
            try:
                loop.call_soon_threadsafe(loop.stop)
            except RuntimeError:
                pass  # closed in the meantime
            thread.join(1.0)
        elif not loop.is_closed() and not loop.is_running():
            loop.close()  # a start that failed before the thread ran the loop

    async def _finish(self, timeout: float) -> int:
        """On the loop: cancel and await every other task; return how many would not end."""
        me = asyncio.current_task()
        tasks = [task for task in asyncio.all_tasks() if task is not me]
        pending = await cancel_and_wait(tasks, timeout)
        for task in tasks:
            if task.done() and not task.cancelled():
                task.exception()  # looked at, so asyncio does not log "never retrieved"
        try:
            await within(self.loop.shutdown_asyncgens(), timeout)
            await within(self.loop.shutdown_default_executor(), timeout)
        except TimeoutError:
            pass  # a job in the executor that never ends; the thread is a daemon
        return len(pending)

    def _keep_error(self, loop, context: dict) -> None:
        # asyncio's default handler logs to stderr, which would print into
        # whichever notebook cell runs next; keep the error for the caller instead.
        error = context.get("exception") or SockcourseError(context.get("message", "asyncio error"))
        if isinstance(error, asyncio.CancelledError):
            # Python 3.11's streams report a connection task cancelled by stop() this
            # way (asyncio/streams.py asks task.exception() of a cancelled task): not a bug.
            return
        self.errors.append(error)

    # -- work for the loop -------------------------------------------------------------
    def submit(self, coro) -> concurrent.futures.Future:
        """Schedule a coroutine on the loop; return a concurrent Future for its result."""
        if not inspect.iscoroutine(coro):
            raise ArgumentTypeError(
                f"Expected a coroutine, such as handler(reader, writer) or asyncio.sleep(1), but got {coro!r}; "
                f"call the async function (with its parentheses) first.")
        problem = self._refusal()
        if problem is not None:
            coro.close()  # never to run: closed, so Python does not warn that it was never awaited
            raise problem
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def _refusal(self) -> Exception | None:
        # Work is taken until the loop's last tasks are being ended, so that the
        # servers on it can still run their own shutdown while the loop stops.
        if not self._started:
            return NotRunningError(f"The asyncio loop thread {self.name!r} has not started; call its start() "
                                   f"first, or use sockcourse.aio.loop_thread().")
        if self._finishing or self.finished:
            return NotRunningError(f"The asyncio loop thread {self.name!r} has stopped; start a new one "
                                   f"with sockcourse.aio.loop_thread().")
        return None

    def run(self, coro, timeout: float = 10.0, *, what: str = "The coroutine",
            hint: str = "pass a larger timeout="):
        """Run a coroutine on the loop, wait at most `timeout` seconds, return its result.

        Raises TimeLimitError (a TimeoutError) when time runs out, after
        cancelling the coroutine; `what` and `hint` word that error.
        """
        try:
            timeout = check_seconds(timeout, "timeout", none_ok=False, example=10.0)
        except UsageError:
            if inspect.iscoroutine(coro):
                coro.close()
            raise
        if self._thread is threading.current_thread():
            if inspect.iscoroutine(coro):
                coro.close()
            raise UsageError(f"The run() call waits for the asyncio loop thread {self.name!r}, so a coroutine running on "
                             f"that loop cannot call it (it would wait for itself); `await` the coroutine instead.")
        future = self.submit(coro)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            if future.done():
                raise  # the coroutine's own TimeoutError (the same class since 3.11), not our limit
            future.cancel()
            end = "" if hint.endswith((".", "?", "!")) else "."
            raise TimeLimitError(f"{what} did not finish within {timeout} s on the loop thread "
                                 f"{self.name!r}, so it was cancelled; {hint}{end}") from None

    @property
    def thread(self) -> threading.Thread | None:
        """The thread that runs the loop (None before start())."""
        return self._thread

    @property
    def finished(self) -> bool:
        """True once the loop's thread has ended (after stop())."""
        return self._thread is None or not self._thread.is_alive()

    def __repr__(self) -> str:
        return f"<LoopThread {self.name} {'running' if self.running else 'stopped'}>"


# -- helpers for coroutines on a loop thread ---------------------------------------------
async def _within_by_timeout(awaitable, seconds: float):
    async with asyncio.timeout(seconds):  # counts cancellations, so one from outside always wins
        return await awaitable


async def _within_by_wait(awaitable, seconds: float):
    # Python 3.10 has no asyncio.timeout(), and its wait_for() can drop a
    # cancellation too. asyncio.wait() never swallows one: it only watches a
    # task of its own, so a cancellation of ours reaches us whatever that task did.
    inner = asyncio.ensure_future(awaitable)
    inner.add_done_callback(_looked_at)
    try:
        done, _ = await asyncio.wait({inner}, timeout=seconds)
    except BaseException:
        inner.cancel()  # we are being cancelled: the awaited thing goes with us
        raise
    if done:
        return inner.result()
    inner.cancel()
    # A cancelled stream read ends on the loop's next turn; until it has, a new
    # read on the same stream would be refused ("already waiting for data").
    await asyncio.wait({inner}, timeout=1.0)
    raise TimeoutError(f"no result within {seconds} s")


def _looked_at(task: asyncio.Future) -> None:
    if not task.cancelled():
        task.exception()  # so asyncio does not log "exception was never retrieved"


async def within(awaitable, seconds: float | None):
    """Await `awaitable` for at most `seconds` (None: no limit); TimeoutError if time runs out.

    Unlike `asyncio.wait_for` on Python 3.11, a cancellation of the awaiting
    task is never lost, even when it arrives just as the awaited thing completes.
    """
    if seconds is None:
        return await awaitable
    if sys.version_info >= (3, 11):
        return await _within_by_timeout(awaitable, seconds)
    return await _within_by_wait(awaitable, seconds)


async def cancel_and_wait(tasks, timeout: float) -> set:
    """Cancel `tasks`, wait at most `timeout` seconds for them to end; return those still running.

    A task still running is cancelled again every RECANCEL_EVERY seconds, so
    one that missed a cancellation (Python 3.11's wait_for drops one that
    arrives just as what it waits for completes) ends at the next; what is
    returned really refused to end.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    pending = {task for task in tasks if not task.done()}
    while pending:
        for task in pending:
            task.cancel()
        left = deadline - loop.time()
        if left <= 0:
            break
        _, pending = await asyncio.wait(pending, timeout=min(RECANCEL_EVERY, left))
    return pending


# -- the shared loop thread ---------------------------------------------------------------
_shared: LoopThread | None = None
_shared_lock = threading.Lock()


def loop_thread() -> LoopThread:
    """The course's shared loop thread, started on first use (and again after a stop)."""
    global _shared
    with _shared_lock:
        if _shared is None or not _shared.running:
            _shared = LoopThread(shared=True).start()
        return _shared


def run(coro, timeout: float = 10.0):
    """Run a coroutine on the shared loop thread and return its result (at most `timeout` s)."""
    return loop_thread().run(coro, timeout)
