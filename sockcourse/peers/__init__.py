"""Small programs that play the other end of a socket in a real second process, and a way to run them.

Each peer is a plain script in this folder that uses the standard library only,
so that it starts in a few tens of milliseconds and reads like any socket
program. `command(name, ...)` is the argument list that runs one with this
Python; `Peer` starts any such command in the background, reads its first line
of output with a time limit, and makes sure it ends: a peer stops at the end of
its `with` block, at `stop()`, at `sockcourse.stop_all()`, or when the notebook
cell that started it runs again.
"""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

from ..core import lifecycle as registry

HERE = Path(__file__).resolve().parent

#: The peer programs in this folder, by name.
NAMES = ("bench_peer", "fd_receiver", "pair_child", "unix_client")

#: Seconds a peer gets to end after its stop signal, and again after SIGKILL.
STOP_TIMEOUT = 5.0

#: The most bytes of a peer's stderr quoted in an error message.
_QUOTED_ERROR = 800


class PeerError(RuntimeError):
    """A peer program did not start as expected; the message says why and what it printed."""


def path(name: str) -> str:
    """The file of the peer program `name`."""
    if name not in NAMES:
        raise ValueError(f"There is no peer program called {name!r}; expected one of "
                         f"{', '.join(map(repr, NAMES))}, for example 'unix_client'.")
    return str(HERE / f"{name}.py")


def command(name: str, *args) -> list[str]:
    """The argument list that runs peer `name` with this Python, ready for subprocess."""
    return [sys.executable, path(name), *(os.fspath(a) if isinstance(a, os.PathLike) else str(a) for a in args)]


class Peer(registry.Stoppable):
    """A program running in the background, with its output on pipes.

    `process` is the real `subprocess.Popen`; a notebook signals and waits on it
    directly. `stop()` (also at the end of a `with` block) sends the stop signal
    if the program still runs, waits, kills it if it will not end, and closes the
    pipes; it is safe to call twice.
    """

    def __init__(self, argv, *, stop_signal: int = signal.SIGINT, name: str | None = None, **popen_options):
        if isinstance(argv, (str, bytes)) or not argv:
            raise TypeError(f"A peer needs its command as a non-empty list of arguments, but got {argv!r}; "
                            f"for example Peer(peers.command('unix_client', path)).")
        self.argv = [os.fspath(a) for a in argv]
        self.name = name or Path(self.argv[1] if len(self.argv) > 1 else self.argv[0]).stem
        self.explicit_name = None  # peers are never replaced by name, only stopped
        self.stop_signal = stop_signal
        self._stdout_buffer = b""
        self._stopped = False
        popen_options.setdefault("stdout", subprocess.PIPE)
        popen_options.setdefault("stderr", subprocess.PIPE)
        popen_options.setdefault("stdin", subprocess.DEVNULL)
        self.process = subprocess.Popen(self.argv, **popen_options)
        registry.add(self)

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def first_line(self, timeout: float = 10.0) -> str:
        """The program's next line on stdout, without its newline; waits at most `timeout` seconds.

        Raises PeerError, with what the program wrote to stderr, if it ends or
        stays silent instead.
        """
        pipe = self.process.stdout
        if pipe is None:
            raise PeerError(f"The peer {self.name!r} was started without stdout=subprocess.PIPE, so its "
                            f"output cannot be read here; leave stdout at its default.")
        deadline = time.monotonic() + timeout
        with selectors.DefaultSelector() as selector:
            selector.register(pipe, selectors.EVENT_READ)
            while b"\n" not in self._stdout_buffer:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise PeerError(f"The peer {self.name!r} printed no line within {timeout} s; "
                                    f"{self._stderr_hint()}")
                if not selector.select(timeout=left):
                    continue
                # os.read returns what is there, unlike the pipe's buffered read(), so it never blocks here.
                chunk = os.read(pipe.fileno(), 65536)
                if not chunk:
                    self.process.wait(timeout=STOP_TIMEOUT)
                    raise PeerError(f"The peer {self.name!r} ended with exit code {self.process.returncode} "
                                    f"before printing a line; {self._stderr_hint()}")
                self._stdout_buffer += chunk
        line, _, self._stdout_buffer = self._stdout_buffer.partition(b"\n")
        return line.decode(errors="replace")

    def _stderr_hint(self) -> str:
        said = ""
        if self.process.poll() is not None and self.process.stderr is not None:
            said = self.process.stderr.read().decode(errors="replace").strip()
        if said:
            return f"it wrote to stderr: {said[-_QUOTED_ERROR:]!r}"
        return "run the same command in a terminal to see what it does: " + " ".join(self.argv)

    def stop(self, timeout: float = STOP_TIMEOUT) -> int | None:
        """End the program if it still runs, wait for it, close the pipes; return its exit code."""
        if self._stopped:
            return self.process.returncode
        self._stopped = True
        try:
            if self.process.poll() is None:
                try:
                    self.process.send_signal(self.stop_signal)
                    self.process.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait(timeout=timeout)
        finally:
            for pipe in (self.process.stdin, self.process.stdout, self.process.stderr):
                if pipe is not None:
                    pipe.close()
            registry.discard(self)
        return self.process.returncode

    def __repr__(self) -> str:
        state = "running" if self.running else f"ended ({self.process.returncode})"
        return f"<Peer {self.name} {state}>"
