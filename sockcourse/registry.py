"""Which servers are running, so none is forgotten.

Three safety nets hang on this list:
- `stop_all()` stops every server the course started in this process;
- a server started with `name=` replaces the running one of that name;
- in IPython and Jupyter, re-running a cell first stops the servers that the
  cell's previous run left running, so "Run All" twice never leaves a second
  server or a busy port behind.

Anything that can be stopped (it has `stop()`) may be registered: servers,
and later the link and the asyncio loop.
"""

from __future__ import annotations

import atexit
import hashlib
import sys
import threading

from .errors import SockcourseError

_lock = threading.Lock()
_running: list = []            # in start order
_by_cell: dict[str, list] = {}  # cell key -> what that cell's last run started
_current_cell: str | None = None
_hooked = False


class Stoppable:
    """Base of what the course starts and must stop: a `with` block stops it at its end.

    If the block itself raised, that error wins, and an error the stop raised
    (a handler's, say) rides along on it as a note.
    """

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc is None:
            self.stop()
            return
        try:
            self.stop()
        except SockcourseError as stop_error:
            if hasattr(exc, "add_note"):
                exc.add_note(str(stop_error))


def add(thing) -> None:
    """Register a running thing (it must have `stop()` and may have `name`)."""
    _hook_ipython()
    with _lock:
        _running.append(thing)
        if _current_cell is not None:
            _by_cell.setdefault(_current_cell, []).append(thing)


def discard(thing) -> None:
    """Forget a thing; its stop() calls this."""
    with _lock:
        if thing in _running:
            _running.remove(thing)
        for things in _by_cell.values():
            if thing in things:
                things.remove(thing)


def running() -> list:
    """What is running now, oldest first."""
    with _lock:
        return list(_running)


def stop_named(name: str) -> None:
    """Stop the running thing called `name`, if there is one."""
    for thing in running():
        if getattr(thing, "explicit_name", None) == name:
            _quiet_stop(thing)


def stop_all() -> int:
    """Stop everything the course started in this process; return how many.

    Errors that handlers raised are re-raised after all have stopped (the first one).
    """
    first_error = None
    things = running()
    for thing in reversed(things):
        try:
            thing.stop()
        except Exception as exc:  # keep going: the others must stop too
            first_error = first_error or exc
    if first_error is not None:
        raise first_error
    return len(things)


def _quiet_stop(thing) -> None:
    try:
        thing.stop()
    except Exception:
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


def _hook_ipython() -> None:
    global _hooked, _current_cell
    if _hooked:
        return
    _hooked = True
    ipython_module = sys.modules.get("IPython")  # never import IPython just for this
    shell = ipython_module.get_ipython() if ipython_module else None
    if shell is not None:
        shell.events.register("pre_run_cell", _before_cell)
        # The hook missed the cell that is running now; its text is the last input.
        history = getattr(getattr(shell, "history_manager", None), "input_hist_raw", None)
        if history:
            _current_cell = _cell_key(history[-1])


def hook_ipython() -> None:
    """Start watching cell re-runs now (the package calls this when imported)."""
    _hook_ipython()


def _stop_all_at_exit() -> None:
    for thing in reversed(running()):
        _quiet_stop(thing)


atexit.register(_stop_all_at_exit)
