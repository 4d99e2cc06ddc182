"""The peers in other languages, run for real: servers in the background, clients to their end.

    with native.start("echo_server", "c") as server:          # built (cached), started, listening
        with socket.create_connection(server.address, timeout=5) as s:
            ...
    ran = native.run("echo_client", "rust", *server.address, "hello")
    ran.stdout                                                 # 'sent hello got hello\\n'

`start()` builds the peer through `toolchains` (a second call rebuilds
nothing), starts it as a real process, and reads its first line, which every
server peer prints once it listens: `listening on 127.0.0.1:43121` (or
`listening on [::1]:43121`). The address in that line must be a loopback
address. A server that ends, stays silent or says something else is stopped,
and PeerError says which, with what it wrote to stderr. The handle is a
`process.Peer`: stopped at the end of its `with` block, by `stop()`, by
`sockcourse.stop_all()`, or when its notebook cell runs again.

A server's later stdout lines (the Java server prints one per string) are
read by a thread of the handle as they come, so a server that prints a lot
never blocks on a full pipe; `lines()` hands over what has arrived.

`run()` runs a client to its end within a time limit and returns what it
printed. A language whose toolchain is missing raises `Unavailable`, whose
message is `toolchains.missing()`'s sentence; `available(language)` asks first.
"""

from __future__ import annotations

import collections
import ipaddress
import re
import signal
import subprocess
import threading
import time
from dataclasses import dataclass

from ..core.checks import check_seconds, check_whole
from ..core.errors import ArgumentError, ArgumentTypeError, PeerError, TimeLimitError
from . import toolchains
from .process import QUOTED_ERROR, TERMINATE_GRACE, Peer, end_process, read_line
from .toolchains import Built, Unavailable

__all__ = ["FIRST_LINE", "NEVER_RUN", "NativePeer", "Ran", "Unavailable", "available", "run", "run_built",
           "start", "start_built"]

#: The first line of every server peer, once it listens.
FIRST_LINE = re.compile(r"listening on (?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<v4>[0-9.]+)):(?P<port>[0-9]{1,5})")

#: Peers that are compiled but never run, and why (finishing "the course never runs it: ...").
NEVER_RUN = {
    ("c", "talk_server"): "it is the talk's server, kept to be read beside echo_server.c: it binds every "
                          "interface of this machine (INADDR_ANY) on the fixed port 8080, with no time limit",
}

#: The most stdout lines a server's handle keeps unread; older ones are dropped first.
KEPT_LINES = 10_000

#: Seconds a client may run when no timeout is given.
RUN_TIMEOUT = 10.0


def available(language: str) -> bool:
    """True when peers of `language` can be built and run on this machine."""
    return toolchains.missing(language) is None


def _refuse_never_run(language: str, name: str) -> None:
    why = NEVER_RUN.get((language, name))
    if why:
        raise ArgumentError(f"The {toolchains.toolchain(language).title} peer {name!r} is compiled but the course "
                            f"never runs it: {why}; start 'echo_server' instead, which binds 127.0.0.1 on port 0.")


def _built(name: str, language: str) -> Built:
    chain = toolchains.toolchain(language)
    chain.source(name)  # an unknown name is the caller's mistake, whatever the machine has
    _refuse_never_run(chain.language, name)
    said = toolchains.missing(chain.language)
    if said:
        raise Unavailable(said)
    return toolchains.build(name, chain.language)


def _check_host_argument(args: tuple, name: str) -> None:
    """A first argument written as an IP address must be a loopback one: refused before anything starts."""
    if not args or not isinstance(args[0], str):
        return
    try:
        address = ipaddress.ip_address(args[0].strip("[]"))
    except ValueError:
        return  # not an address (a count, a flag): the peer's own argument
    if not address.is_loopback:
        raise ArgumentError(f"The host {args[0]!r} given to {name!r} is not a loopback address, and the course's "
                            f"peers listen on and talk to this machine only; give '127.0.0.1' or '::1'.")


# -- servers ------------------------------------------------------------------------------------
class NativePeer(Peer):
    """A server peer in another language, running, listening at `address`.

    address: (host, port) from its first line; language, built: what runs;
    first: the first line itself. `lines(timeout)` returns the stdout lines
    printed since, as a list.
    """

    what = "peer"

    def __init__(self, built: Built, *args, timeout: float = 10.0, name: str | None = None):
        self.built = built
        self.language = built.language
        self.timeout = check_seconds(timeout, "timeout", none_ok=False, example=10.0)
        self.address: tuple | None = None
        self.first = ""
        self._lines: collections.deque = collections.deque(maxlen=KEPT_LINES)
        self._arrived = threading.Condition()
        self._ended = False
        self._reader: threading.Thread | None = None
        self._quit = threading.Event()
        super().__init__(built.command(*args), stop_signal=signal.SIGTERM, name=name or built.name)

    # -- the lifecycle --------------------------------------------------------------------------
    def _start(self) -> None:
        super()._start()
        self.first = self._read_first_line()
        self.address = self._parse(self.first)
        self._reader = self._spawn(self._read_lines, f"sockcourse-{self.name}-stdout")

    def _read_first_line(self) -> str:
        shape = "'listening on HOST:PORT'"
        try:
            line = read_line(self.process, self.timeout)
        except EOFError:
            try:
                self.process.wait(TERMINATE_GRACE)
            except subprocess.TimeoutExpired:
                pass
            said = end_process(self.process, TERMINATE_GRACE)
            raise PeerError(f"The {self._title()} peer {self.name!r} ended with exit code {self.process.returncode} "
                            f"before printing its first line ({shape}); {self._said(said)}") from None
        if line is None:
            said = self._end_now()
            raise PeerError(f"The {self._title()} peer {self.name!r} did not print its first line ({shape}) within "
                            f"{self.timeout:g} s, so it was stopped; {self._said(said)}")
        return line

    def _parse(self, line: str) -> tuple:
        match = FIRST_LINE.fullmatch(line.strip())
        if match is None:
            said = self._end_now()
            raise PeerError(f"The {self._title()} peer {self.name!r} printed {line[:200]!r} as its first line, but a "
                            f"server peer's first line is 'listening on HOST:PORT', for example 'listening on "
                            f"127.0.0.1:43121'; it was stopped, and {self._said(said)}")
        host = match["v6"] or match["v4"]
        port = int(match["port"])
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            address = None
        if address is None or not address.is_loopback or not 0 < port < 65536:
            self._end_now()
            raise PeerError(f"The {self._title()} peer {self.name!r} says it is listening on {host}:{port}, which is "
                            f"not a loopback address and port, so it was stopped at once: the course's servers "
                            f"listen on this machine only (127.0.0.1 or ::1).")
        return (str(address), port)

    def _end_now(self) -> str:
        """Stop a program that failed its start at once (no grace to end by itself); what it wrote to stderr."""
        self._ask_to_stop()
        return end_process(self.process, TERMINATE_GRACE)

    def _read_lines(self) -> None:
        """Move the server's stdout lines into the handle as they come, until it ends or is stopped."""
        while not self._quit.is_set():
            try:
                line = read_line(self.process, 0.2)
            except (EOFError, OSError, ValueError):  # ended, or its pipe closed under us
                break
            if line is not None:
                with self._arrived:
                    self._lines.append(line)
                    self._arrived.notify_all()
        with self._arrived:
            self._ended = True
            self._arrived.notify_all()

    def _stop(self, timeout: float) -> None:
        self._ask_to_stop()
        # The reader must be done with the pipe before end_process closes it (a closed descriptor's
        # number can be reused at once, by anything): it sees the end of the output once the
        # program has ended, and the flag bounds its wait otherwise.
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            pass  # end_process below terminates, then kills it
        if self.process.poll() is None:
            self.process.kill()
            try:
                self.process.wait(TERMINATE_GRACE)
            except subprocess.TimeoutExpired:
                pass
        self._quit.set()
        if self._reader is not None and self._reader is not threading.current_thread():
            self._reader.join(TERMINATE_GRACE)
        self.stderr_text = end_process(self.process, TERMINATE_GRACE)

    def _close(self) -> None:
        self._quit.set()
        if self._reader is not None and self._reader is not threading.current_thread():
            self._reader.join(TERMINATE_GRACE)
        super()._close()

    # -- what a notebook asks -----------------------------------------------------------------------
    def first_line(self, timeout: float = 10.0) -> str:
        """The first line the server printed (read at start-up)."""
        return self.first

    def lines(self, timeout: float = 0.5, *, count: int | None = None) -> list[str]:
        """The stdout lines the server printed since the last call, waiting up to `timeout` s for them.

        count: return as soon as this many lines are there (at most this many);
        None waits the whole `timeout` unless the server ends first.
        """
        timeout = check_seconds(timeout, "timeout", none_ok=False, example=0.5)
        if count is not None:
            count = check_whole(count, "count", low=1, example=1)
        deadline = time.monotonic() + timeout
        with self._arrived:
            while not self._ended and (count is None or len(self._lines) < count):
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._arrived.wait(left)
            taken = []
            while self._lines and (count is None or len(taken) < count):
                taken.append(self._lines.popleft())
        return taken

    def _title(self) -> str:
        return toolchains.toolchain(self.built.language).title

    @staticmethod
    def _said(stderr: str) -> str:
        if stderr:
            return f"it wrote to stderr: {stderr[-QUOTED_ERROR:]!r}"
        return "it wrote nothing to stderr"

    def __repr__(self) -> str:
        if self.process is None:
            return f"<NativePeer {self.name} not started>"
        host = f"[{self.address[0]}]" if ":" in self.address[0] else self.address[0]
        state = f"listening on {host}:{self.address[1]}" if self.running else \
            f"ended ({self.process.returncode})"
        return f"<NativePeer {self.name} ({self.language}) {state}>"


def start(name: str, language: str, *args, timeout: float = 10.0) -> NativePeer:
    """Build (cached) and start the server peer `name` of `language`; return it once it listens.

    args: the peer's own arguments (the shipped servers take an optional
    loopback host first: '127.0.0.1' or '::1'). timeout: seconds its first
    line may take. Raises Unavailable when the toolchain is missing,
    BuildError when the source does not build, PeerError when the program
    ends, stays silent, or says something other than 'listening on HOST:PORT'.
    """
    timeout = check_seconds(timeout, "timeout", none_ok=False, example=10.0)
    _check_host_argument(args, name)
    return NativePeer(_built(name, language), *args, timeout=timeout)


def start_built(built: Built, *args, timeout: float = 10.0) -> NativePeer:
    """Start a program `toolchains.build_file()` made as a server peer, as `start()` does."""
    _check_built(built)
    timeout = check_seconds(timeout, "timeout", none_ok=False, example=10.0)
    _check_host_argument(args, built.name)
    return NativePeer(built, *args, timeout=timeout)


# -- clients ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Ran:
    """A program that ran to its end: its command, exit code, output and time taken."""

    argv: tuple
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def run(name: str, language: str, *args, timeout: float = RUN_TIMEOUT, input=None) -> Ran:
    """Build (cached) and run the peer `name` of `language` to its end; return what it did.

    input: text (or bytes) for its stdin. A program still running after
    `timeout` seconds is killed, and TimeLimitError says so.
    """
    timeout = check_seconds(timeout, "timeout", none_ok=False, example=RUN_TIMEOUT)
    _check_host_argument(args, name)
    return run_built(_built(name, language), *args, timeout=timeout, input=input)


def run_built(built: Built, *args, timeout: float = RUN_TIMEOUT, input=None) -> Ran:
    """Run a program `toolchains.build()` or `build_file()` made to its end, as `run()` does."""
    _check_built(built)
    timeout = check_seconds(timeout, "timeout", none_ok=False, example=RUN_TIMEOUT)
    if input is not None and not isinstance(input, (str, bytes)):
        raise ArgumentError(f"The input must be text or bytes for the program's stdin, but got {input!r}; "
                            f"for example input='hello\\n'.")
    argv = built.command(*args)
    data = input.encode() if isinstance(input, str) else input
    started = time.perf_counter()
    try:
        done = subprocess.run(argv, input=data, capture_output=True, timeout=timeout,
                              stdin=None if data is not None else subprocess.DEVNULL)
    except subprocess.TimeoutExpired:  # subprocess.run has killed and reaped it
        raise TimeLimitError(f"The {toolchains.toolchain(built.language).title} program {built.name!r} was still "
                             f"running after {timeout:g} s, so it was stopped; give it a larger timeout= if it "
                             f"needs more time, or see what it waits for: {' '.join(argv)}") from None
    except OSError as exc:
        raise PeerError(f"The program {argv[0]!r} could not be started ({exc.strerror or exc}); check that it "
                        f"exists and may be run: {' '.join(argv)}") from None
    return Ran(tuple(argv), done.returncode, done.stdout.decode(errors="replace"),
               done.stderr.decode(errors="replace"), time.perf_counter() - started)


def _check_built(built) -> None:
    if not isinstance(built, Built):
        raise ArgumentTypeError(f"Expected what toolchains.build() or build_file() returns, but got {built!r}; for "
                            f"example toolchains.build_file('server.c', 'c').")
