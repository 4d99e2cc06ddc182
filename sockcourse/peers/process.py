"""Programs in a second process: start one, read its lines with a time limit, and make sure it ends.

Everything the course runs in another process (a Python peer of this
folder, `python -m sockcourse serve`, openssl, iperf3, the many-clients
children) is read and ended the same two ways, written once here:

- `read_line(process, timeout)` returns the next line the child wrote to its
  stdout (or to any pipe), and waits at most `timeout` seconds for it. It
  reads what the kernel has (os.read after a select), never Python's
  buffered read, so a child that prints half a line cannot block it.
- `end_process(process, timeout)` waits for a child that was asked to end,
  then terminates it, then kills it, closes its pipes and returns what it
  wrote to stderr, so no child and no pipe outlives its owner.

`Peer` is a handle on one such program, stopped like every other thing the
course starts: at the end of its `with` block, at `stop()`, at
`sockcourse.stop_all()`, or when the notebook cell that started it runs again.
"""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import threading
import time
import weakref
from pathlib import Path

from ..core.checks import check_seconds
from ..core.errors import ArgumentError, ArgumentTypeError, PeerError
from ..core.lifecycle import Stoppable
from ..core.limits import STOP_TIMEOUT

__all__ = ["HERE", "NAMES", "Peer", "PeerError", "STOP_TIMEOUT", "command", "end_process", "path", "read_line"]

HERE = Path(__file__).resolve().parent

#: The Python peer programs in this folder, by name.
NAMES = ("bench_peer", "fd_receiver", "pair_child", "unix_client")

#: Seconds a child gets after SIGTERM before SIGKILL, and after SIGKILL to be reaped.
TERMINATE_GRACE = 1.0

#: Seconds end_process() reads a dead child's stderr: a grandchild that inherited
#: the pipe could keep it open for ever, and must not hold its parent's owner up.
STDERR_READ_LIMIT = 1.0

#: The most bytes of a child's stderr quoted in an error message.
QUOTED_ERROR = 800

_READ_SIZE = 65536


# -- the course's Python peers -------------------------------------------------------
def path(name: str) -> str:
    """The file of the peer program `name`."""
    if name not in NAMES:
        raise ArgumentError(f"There is no peer program called {name!r}; expected one of "
                            f"{', '.join(map(repr, NAMES))}, for example 'unix_client'.")
    return str(HERE / f"{name}.py")


def command(name: str, *args) -> list[str]:
    """The argument list that runs peer `name` with this Python, ready for subprocess."""
    return [sys.executable, path(name), *(os.fspath(a) if isinstance(a, os.PathLike) else str(a) for a in args)]


# -- reading a child's lines -------------------------------------------------------------
class _Pending:
    """What was read from one pipe beyond the last whole line, and whether the pipe has ended."""

    __slots__ = ("data", "ended", "__weakref__")

    def __init__(self):
        self.data = b""
        self.ended = False


# One entry per pipe, forgotten with the pipe: a line split across two calls
# (a timeout in the middle of it) must not lose its first half.
_pending: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_pending_lock = threading.Lock()


def _pipe_of(source, who: str = "the program"):
    pipe = source.stdout if isinstance(source, subprocess.Popen) else source
    if pipe is None or not hasattr(pipe, "fileno"):
        raise PeerError(f"There is no pipe to read {who}'s lines from (got {source!r}); start it with "
                        f"stdout=subprocess.PIPE, which Peer does by default.")
    return pipe


def read_line(source, timeout: float) -> str | None:
    """The next line a child wrote, without its newline; None if no whole line came within `timeout` s.

    source: a subprocess.Popen (its stdout is read) or a pipe of one.
    When the pipe has ended (the child closed it, or exited), a last line
    without a newline is still returned, and the call after raises EOFError.
    A line cut off by the timeout is kept, and finished by the next call.
    """
    timeout = check_seconds(timeout, "timeout", none_ok=False, example=5.0)
    pipe = _pipe_of(source)
    with _pending_lock:
        pending = _pending.setdefault(pipe, _Pending())
    deadline = time.monotonic() + timeout
    descriptor = None
    try:
        descriptor = pipe.fileno()
    except ValueError:  # the pipe was closed here: nothing more can come
        pending.ended = True
    while b"\n" not in pending.data and not pending.ended:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        with selectors.DefaultSelector() as selector:
            selector.register(descriptor, selectors.EVENT_READ)
            ready = selector.select(timeout=left)
        if not ready:
            continue
        chunk = os.read(descriptor, _READ_SIZE)
        if chunk:
            pending.data += chunk
        else:
            pending.ended = True
    if b"\n" in pending.data:
        line, _, pending.data = pending.data.partition(b"\n")
        return line.decode(errors="replace")
    if pending.data:
        line, pending.data = pending.data, b""
        return line.decode(errors="replace")
    raise EOFError("The program closed its output without writing another line.")


def _read_rest(pipe, limit: float) -> bytes:
    """What is left in a pipe, read until it ends or `limit` seconds pass."""
    parts, deadline = [], time.monotonic() + limit
    with _pending_lock:
        pending = _pending.pop(pipe, None)
    if pending is not None:
        parts.append(pending.data)
    try:
        descriptor = pipe.fileno()
    except ValueError:
        return b"".join(parts)
    with selectors.DefaultSelector() as selector:
        selector.register(descriptor, selectors.EVENT_READ)
        while (left := deadline - time.monotonic()) > 0:
            if not selector.select(timeout=left):
                break
            chunk = os.read(descriptor, _READ_SIZE)
            if not chunk:
                break
            parts.append(chunk)
    return b"".join(parts)


# -- ending a child ------------------------------------------------------------------------
def end_process(process: subprocess.Popen, timeout: float = STOP_TIMEOUT) -> str:
    """Make sure `process` has ended, close its pipes, and return what it wrote to stderr (stripped).

    It waits up to `timeout` seconds for the child to end by itself (the
    caller has asked it to: closed its stdin, sent a signal), then sends
    SIGTERM, then SIGKILL, each with a short grace. Safe to call again.
    """
    timeout = check_seconds(timeout, "timeout", none_ok=False, example=STOP_TIMEOUT)
    if process.stdin is not None:
        try:
            process.stdin.close()  # many children end at the end of their input
        except OSError:
            pass  # it died with our bytes unread: nothing to flush into
    for ask, wait in ((None, timeout), (process.terminate, TERMINATE_GRACE), (process.kill, TERMINATE_GRACE)):
        if ask is not None:
            try:
                ask()
            except ProcessLookupError:
                pass  # it ended between the wait and the signal
        try:
            process.wait(wait)
            break
        except subprocess.TimeoutExpired:
            continue
    said = b""
    if process.stderr is not None:
        try:
            said = _read_rest(process.stderr, STDERR_READ_LIMIT)
        except OSError:
            pass
    for pipe in (process.stdout, process.stderr):
        if pipe is not None:
            with _pending_lock:
                _pending.pop(pipe, None)
            try:
                pipe.close()
            except OSError:
                pass
    return said.decode(errors="replace").strip()


# -- a program as a handle ----------------------------------------------------------------------
class Peer(Stoppable):
    """A program running in the background, with its output on pipes.

    `process` is the real `subprocess.Popen`; a notebook signals and waits on it
    directly. `first_line()` reads its next line of output with a time limit.
    `stop()` (also at the end of a `with` block) sends the stop signal if the
    program still runs, waits, terminates or kills it if it will not end, and
    closes the pipes; it is safe to call twice. Afterwards `returncode` is the
    program's exit code and `stderr_text` what it wrote to stderr and nobody read.
    """

    what = "peer"

    def __init__(self, argv, *, stop_signal: int = signal.SIGINT, name: str | None = None, **popen_options):
        if isinstance(argv, (str, bytes)) or not isinstance(argv, (list, tuple)) or not argv:
            raise ArgumentTypeError(f"A peer needs its command as a non-empty list of arguments, but got {argv!r}; "
                                    f"for example Peer(peers.command('unix_client', path)).")
        for word in argv:
            if not isinstance(word, (str, bytes, os.PathLike)):
                raise ArgumentTypeError(f"Each word of a peer's command must be a string or a path, but got {word!r} "
                                        f"(type {type(word).__name__}) in {argv!r}; write it as str({word!r}), or "
                                        f"build the command with peers.command(name, ...), which does.")
        argv = [os.fspath(a) for a in argv]
        super().__init__(name or Path(argv[1] if len(argv) > 1 else argv[0]).stem)
        self.argv = argv
        self.stop_signal = stop_signal
        self.stderr_text = ""
        self.process: subprocess.Popen | None = None
        popen_options.setdefault("stdout", subprocess.PIPE)
        popen_options.setdefault("stderr", subprocess.PIPE)
        popen_options.setdefault("stdin", subprocess.DEVNULL)
        self._popen_options = popen_options
        self._launch()

    def _start(self) -> None:
        try:
            self.process = subprocess.Popen(self.argv, **self._popen_options)
        except OSError as exc:
            raise PeerError(f"The program {self.argv[0]!r} could not be started ({exc.strerror or exc}); "
                            f"check that it exists and may be run: {' '.join(self.argv)}") from None

    def _ask_to_stop(self) -> None:
        """Send the stop signal, unless the program has ended already."""
        if self.process.poll() is None:
            try:
                self.process.send_signal(self.stop_signal)
            except ProcessLookupError:
                pass  # it ended on its own just now

    def _stop(self, timeout: float) -> None:
        self._ask_to_stop()
        self.stderr_text = end_process(self.process, timeout)

    def _close(self) -> None:
        # After a stop this finds everything ended and closed already (end_process is safe twice);
        # it matters when _stop itself failed halfway.
        if self.process is not None:
            self.stderr_text = end_process(self.process, TERMINATE_GRACE) or self.stderr_text

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def running(self) -> bool:
        """True while the program runs and stop() has not begun."""
        return super().running and self.process.poll() is None

    @property
    def returncode(self) -> int | None:
        """The program's exit code, once it has ended (negative: the signal that ended it)."""
        return self.process.poll()

    def first_line(self, timeout: float = 10.0) -> str:
        """The program's next line on stdout, without its newline; waits at most `timeout` seconds.

        Raises PeerError, with what the program wrote to stderr, if it ends or
        stays silent instead.
        """
        if self.process.stdout is None:
            raise PeerError(f"The peer {self.name!r} was started without stdout=subprocess.PIPE, so its "
                            f"output cannot be read here; leave stdout at its default.")
        try:
            line = read_line(self.process, timeout)
        except EOFError:
            try:
                self.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                pass
            raise PeerError(f"The peer {self.name!r} ended with exit code {self.process.returncode} "
                            f"before printing a line; {self._stderr_hint()}") from None
        if line is None:
            raise PeerError(f"The peer {self.name!r} printed no line within {timeout} s; {self._stderr_hint()}")
        return line

    def _stderr_hint(self) -> str:
        said = ""
        if self.process.poll() is not None and self.process.stderr is not None:
            said = _read_rest(self.process.stderr, STDERR_READ_LIMIT).decode(errors="replace").strip()
        if said:
            return f"it wrote to stderr: {said[-QUOTED_ERROR:]!r}"
        return "run the same command in a terminal to see what it does: " + " ".join(self.argv)

    def __repr__(self) -> str:
        if self.process is None:
            return f"<Peer {self.name} not started>"
        state = "running" if self.running else f"ended ({self.process.returncode})"
        return f"<Peer {self.name} {state}>"
