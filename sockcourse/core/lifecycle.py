"""The one lifecycle of everything the course starts, and the list of what is running.

`Stoppable` is the base of every handle that owns threads, sockets, files or
processes: servers, asyncio servers, the link, loop threads, peers, the
certificate authority. It writes the lifecycle once, as socketserver's
BaseServer does, and a handle fills in only its own two halves:

- `_start()` opens what the handle needs. If it raises halfway, `_close()`
  runs at once and the error goes on: nothing half-open is left behind, and
  nothing is registered.
- `_stop(timeout)` wakes and joins what the handle runs, and may raise the
  errors it kept (a handler's bug). Whatever it does or raises, `_close()`
  runs after it and the handle leaves the registry.

So after any `stop()` that returns or raises, nothing listens, nothing is
registered and no file is left. `stop()` runs once: a second call after it
has finished returns at once; a second call while the first is still
stopping (from another thread) waits for it and raises the same error. A
call from one of the handle's own threads (a handler that calls
`server.stop()`) does the stop without waiting for itself.

Three safety nets hang on the registry:
- `stop_all()` stops every thing the course started in this process;
- a thing started with `name=` replaces the running one of that name;
- in IPython and Jupyter, re-running a cell first stops what the cell's
  previous run left running, so "Run All" twice never leaves a second
  server or a busy port behind. Things shared by every cell (the asyncio
  loop thread) are registered outside any cell.
"""

from __future__ import annotations

import atexit
import hashlib
import sys
import threading
import time
import weakref

from .addresses import peer_text
from .checks import check_seconds
from .errors import SockcourseError
from .limits import STOP_TIMEOUT

_lock = threading.Lock()
_running: list = []            # in start order
_by_cell: dict[str, list] = {}  # cell key -> what that cell's last run started
_current_cell: str | None = None
_watching = False


class Stoppable:
    """Base of what the course starts and must stop; `with` stops it at the block's end.

    Subclasses call `super().__init__(name, explicit_name)` and write
    `_start()`, `_stop(timeout)` and `_close()`; they never override `stop()`.
    If a `with` block itself raised, that error wins, and an error the stop
    raised (a handler's, say) rides along on it as a note.
    """

    #: What the handle is, in messages ("server", "link", ...).
    what = "thing"
    #: Registered outside any cell (shared by all), so no cell's re-run stops it.
    shared = False

    def __init__(self, name: str, explicit_name: str | None = None):
        self.name = name
        self.explicit_name = explicit_name  # the name= a learner gave, by which a namesake is replaced
        self._life_lock = threading.Lock()
        self._started = False
        self._stop_began = False
        self._stopped = threading.Event()
        self._stop_error: BaseException | None = None
        self._own_threads: weakref.WeakSet = weakref.WeakSet()

    # -- the template -----------------------------------------------------------
    def _launch(self):
        """Start the handle (the factories call this); close what was opened if start-up fails."""
        try:
            self._start()
        except BaseException:
            self._quiet_close()
            raise
        self._started = True
        add(self)
        return self

    def stop(self, timeout: float | None = STOP_TIMEOUT) -> None:
        """Stop it, close everything it owns, wait at most `timeout` seconds; safe to call twice.

        Raises (once) what its own code kept: a handler's error, or threads
        that would not end.
        """
        timeout = check_seconds(timeout, "timeout", none_ok=False, example=STOP_TIMEOUT)
        with self._life_lock:
            first = not self._stop_began
            self._stop_began = True
        if not first:
            self._wait_for_first_stop(timeout)
            return
        try:
            self._stop(timeout)
        except BaseException as exc:
            self._stop_error = exc
        finally:
            self._quiet_close()
            discard(self)
            self._stopped.set()
        if self._stop_error is not None:
            raise self._stop_error

    def _wait_for_first_stop(self, timeout: float) -> None:
        if self._stopped.is_set() or self.in_own_thread():
            return  # done already, or the stop in progress is waiting for this very thread
        if not self._stopped.wait(timeout + 1.0):
            raise SockcourseError(f"The {self.what} {self.name!r} was still stopping {timeout} s after another "
                                  f"thread began to stop it; call stop() once, from one place.")
        if self._stop_error is not None:
            raise self._stop_error

    def _quiet_close(self) -> None:
        try:
            self._close()
        except Exception:  # noqa: BLE001 - closing is best effort; _stop reported what mattered
            pass

    # -- what subclasses write ----------------------------------------------------
    def _start(self) -> None:
        """Open what the handle needs (sockets, threads); raise if it cannot."""

    def _stop(self, timeout: float) -> None:
        """Wake and join what the handle runs; raise what it kept."""

    def _close(self) -> None:
        """Release every resource; must be safe to call twice and after a failed start."""

    # -- helpers for subclasses ---------------------------------------------------
    def _spawn(self, target, name: str, *args) -> threading.Thread:
        """A daemon thread this handle owns (started), so stop() knows not to wait for it from inside."""
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        self._own_threads.add(thread)
        thread.start()
        return thread

    def _adopt_thread(self, thread: threading.Thread) -> None:
        """Count a thread made elsewhere (an asyncio loop's) as one of this handle's own."""
        self._own_threads.add(thread)

    def in_own_thread(self) -> bool:
        """True when the caller runs on one of this handle's own threads (a handler, say)."""
        return threading.current_thread() in self._own_threads

    @staticmethod
    def _join_all(threads, deadline: float) -> list[str]:
        """Join threads until `deadline` (time.monotonic()); the names of those still alive.

        The calling thread itself is skipped: a handler that stops its own
        server cannot wait for itself to return.
        """
        late = []
        me = threading.current_thread()
        for thread in threads:
            if thread is None or thread is me:
                continue
            thread.join(max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                late.append(thread.name)
        return late

    # -- the state -------------------------------------------------------------
    @property
    def running(self) -> bool:
        """True from a successful start until stop() begins."""
        return self._started and not self._stop_began

    @property
    def stopped(self) -> bool:
        """True once stop() has finished (whatever it raised)."""
        return self._stopped.is_set()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc is None:
            self.stop()
            return
        try:
            self.stop()
        except Exception as stop_error:  # noqa: BLE001 - the block's own error is the one to see
            if hasattr(exc, "add_note"):
                exc.add_note(f"While stopping {self.name!r} after that error: {stop_error}")


class Endpoint(Stoppable):
    """A Stoppable with an address: (host, port) for IP transports, a path for UNIX ones.

    The subclass sets `address` (and `transport`) in `_start()`.
    """

    address = None
    transport = "tcp"

    @property
    def host(self):
        return self.address[0] if isinstance(self.address, tuple) else None

    @property
    def port(self):
        return self.address[1] if isinstance(self.address, tuple) else None

    @property
    def path(self):
        return None if isinstance(self.address, tuple) or self.address is None else self.address

    def _where(self) -> str:
        return peer_text(self.address) if self.address is not None else "(not bound)"

    def _more(self) -> str:
        """Extra words for repr(), such as ', 3 connections'."""
        return ""

    def __repr__(self) -> str:
        state = "running" if self.running else ("stopped" if self.stopped or self._stop_began else "not started")
        return f"<{type(self).__name__} {self.name} {self.transport} {self._where()} {state}{self._more()}>"


# -- the registry -------------------------------------------------------------------
def add(thing) -> None:
    """Register a running thing; an older running thing with the same explicit name is stopped.

    Registering and finding the namesakes happen under one lock, so threads
    that start namesakes at once leave exactly one of them running.
    """
    watch_cells()
    name = getattr(thing, "explicit_name", None)
    with _lock:
        namesakes = [other for other in _running if name is not None and other is not thing
                     and getattr(other, "explicit_name", None) == name]
        _running.append(thing)
        if _current_cell is not None and not getattr(thing, "shared", False):
            _by_cell.setdefault(_current_cell, []).append(thing)
    for other in namesakes:
        _quiet_stop(other)


def discard(thing) -> None:
    """Forget a thing; its stop() calls this."""
    with _lock:
        if thing in _running:
            _running.remove(thing)
        for things in _by_cell.values():
            if thing in things:
                things.remove(thing)


def running() -> list:
    """What the course has running now (servers, links, loops, peers), oldest first."""
    with _lock:
        return list(_running)


def stop_named(name: str) -> None:
    """Stop the running thing called `name`, if there is one (before its namesake binds)."""
    for thing in running():
        if getattr(thing, "explicit_name", None) == name:
            _quiet_stop(thing)


def stop_all() -> int:
    """Stop everything the course started in this process, newest first; return how many.

    Errors that handlers raised are re-raised after all have stopped (the first one).
    """
    first_error = None
    things = running()
    for thing in reversed(things):
        try:
            thing.stop()
        except Exception as exc:  # noqa: BLE001 - keep going: the others must stop too
            first_error = first_error or exc
    if first_error is not None:
        raise first_error
    return len(things)


def _quiet_stop(thing) -> None:
    try:
        thing.stop()
    except Exception:  # noqa: BLE001
        # It was being replaced; its handler's error belonged to a run the
        # learner has already moved on from.
        pass


def _cell_key(source) -> str | None:
    # Keyed by the cell's text, not its id: the text is there both in the hook
    # and in the cell that imports the course, and two running cells with the
    # same text bind the same variable, so the older server is unreachable anyway.
    if not source:
        return None
    return hashlib.sha1(source.encode()).hexdigest()


def _before_cell(info) -> None:
    """IPython's pre_run_cell hook: stop what this cell's last run left running."""
    global _current_cell
    key = _cell_key(getattr(info, "raw_cell", None))
    with _lock:
        _current_cell = key
        leftovers = _by_cell.pop(key, []) if key else []
    for thing in reversed(leftovers):  # newest first, as stop_all(): a server before its loop
        _quiet_stop(thing)


def watch_cells() -> None:
    """Start watching cell re-runs in IPython (the package calls this when imported); safe twice."""
    global _watching, _current_cell
    if _watching:
        return
    _watching = True
    ipython_module = sys.modules.get("IPython")  # never import IPython just for this
    shell = ipython_module.get_ipython() if ipython_module else None
    if shell is not None:
        shell.events.register("pre_run_cell", _before_cell)
        # The hook missed the cell that is running now; its text is the last input.
        history = getattr(getattr(shell, "history_manager", None), "input_hist_raw", None)
        if history:
            _current_cell = _cell_key(history[-1])


def _stop_all_at_exit() -> None:
    for thing in reversed(running()):
        _quiet_stop(thing)


atexit.register(_stop_all_at_exit)
