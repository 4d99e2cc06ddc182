"""Chapter 07's option table asked again by programs that are not Python: C's getsockopt(2) and `ss`.

The course's own table (`sockcourse.kernel.options.probe_all`) goes through
Python's socket module. Two outside programs ask the same kernel without it:

- `c_getsockopt()` builds and runs `src/c/sockopts.c`, which calls
  getsockopt(2) for every option on a fresh TCP socket of its own, and
  returns its answers as plain Python values (an int, a pair for a
  struct linger, seconds for a struct timeval, the errno's name);
- `ss_view(sock)` runs `ss` (iproute2), which asks the kernel over the same
  sock_diag netlink interface the course's socket table uses, about one
  connected socket of ours, and returns the fields it prints as numbers:
  its buffer sizes (`skmem`), its timer (keepalive shows there) and
  tcp_info's congestion window and round-trip time.

Neither sends anything anywhere: sockopts.c never binds or connects, and ss
only reads the kernel's table.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
from dataclasses import dataclass

from ..core.errors import ArgumentTypeError, PeerError, UsageError
from . import toolchains

#: Seconds either program may take; both answer in milliseconds.
TIMEOUT = 15.0


@dataclass(frozen=True)
class CAnswer:
    """What getsockopt(2) said from C for one option: a value, an errno's name, or 'missing'."""

    option: str
    value: object = None     # int, (on, seconds), seconds as a float, or the length of a struct
    errno: str | None = None
    missing: bool = False    # this system's headers do not define the option

    def shown(self) -> str:
        if self.missing:
            return "not defined in this system's headers"
        if self.errno:
            return f"getsockopt: {self.errno}"
        return str(self.value)


def _parse_c_line(line: str) -> CAnswer:
    name, _, rest = line.partition(" ")
    words = rest.split()
    if words == ["missing"]:
        return CAnswer(name, missing=True)
    if len(words) == 2 and words[0] == "errno":
        return CAnswer(name, errno=words[1])
    if len(words) == 2 and words[1] == "bytes":
        return CAnswer(name, value=int(words[0]))
    numbers = [int(word) for word in words]
    if name == "SO_LINGER":
        return CAnswer(name, value=(numbers[0], numbers[1]))
    if name in ("SO_RCVTIMEO", "SO_SNDTIMEO"):
        return CAnswer(name, value=numbers[0] + numbers[1] / 1e6)
    return CAnswer(name, value=numbers[0])


def c_getsockopt() -> dict[str, CAnswer]:
    """Build (cached) and run sockopts.c; its answer for every option, by name.

    Raises toolchains.Unavailable, whose message says what to install, where
    this machine has no C compiler.
    """
    built = toolchains.build("sockopts", "c")
    try:
        done = subprocess.run(built.command(), capture_output=True, text=True, timeout=TIMEOUT, check=False)
    except subprocess.TimeoutExpired as exc:
        raise PeerError(f"The C program sockopts did not finish within {TIMEOUT:g} s; it should answer at once, "
                        f"so this machine may be overloaded: run the cell again.") from exc
    if done.returncode != 0:
        raise PeerError(f"The C program sockopts failed with exit status {done.returncode}: "
                        f"{done.stderr.strip() or 'it printed nothing on stderr'}.")
    answers = {}
    for line in done.stdout.splitlines():
        if line.strip():
            answer = _parse_c_line(line.strip())
            answers[answer.option] = answer
    return answers


# -- ss ---------------------------------------------------------------------------

def ss_unavailable() -> str | None:
    """Why `ss` cannot run here (one sentence), or None when it can."""
    if shutil.which("ss") is None:
        return ("The program ss is not on this machine; it comes with iproute2 "
                "(Debian and Ubuntu: apt install iproute2), and it exists on Linux only.")
    return None


@dataclass(frozen=True)
class SsView:
    """What `ss -tmiHn` printed for one connection, as numbers (None where ss printed nothing)."""

    line: str                 # the whole line, as ss printed it
    state: str
    rcvbuf: int | None        # skmem rb: the receive buffer's size, the kernel's sk_rcvbuf
    sndbuf: int | None        # skmem tb: the send buffer's size, sk_sndbuf
    timer: str | None         # "keepalive", "on" (retransmission), "timewait", ... or None
    cwnd: int | None          # segments
    rtt_ms: float | None
    mss: int | None

    def to_dict(self) -> dict:
        return dict(self.__dict__)


_SKMEM = re.compile(r"skmem:\(([^)]*)\)")
_TIMER = re.compile(r"timer:\((\w+),")


def _number(pattern: str, text: str, kind=int):
    found = re.search(pattern, text)
    return kind(found.group(1)) if found else None


def parse_ss(line: str) -> SsView:
    """One line of `ss -tmiHn` (its -H drops the header) as an SsView."""
    skmem = {}
    found = _SKMEM.search(line)
    if found:
        for item in found.group(1).split(","):
            key = re.match(r"[a-z]+", item)
            if key:
                skmem[key.group(0)] = int(item[key.end():])
    timer = _TIMER.search(line)
    return SsView(line=line, state=line.split()[0] if line.split() else "",
                  rcvbuf=skmem.get("rb"), sndbuf=skmem.get("tb"), timer=timer.group(1) if timer else None,
                  cwnd=_number(r"\bcwnd:(\d+)", line), rtt_ms=_number(r"\brtt:([\d.]+)/", line, float),
                  mss=_number(r"\bmss:(\d+)", line))


def ss_view(sock: socket.socket) -> SsView:
    """Ask `ss` about one connected TCP socket of ours (found by both its ports) and read its answer."""
    if not isinstance(sock, socket.socket) or sock.fileno() < 0:
        raise ArgumentTypeError(f"ss_view() needs an open, connected TCP socket, but got {sock!r}; "
                                f"pass the socket itself, for example the one socket.create_connection() returned.")
    why = ss_unavailable()
    if why:
        raise UsageError(why)
    try:
        local, remote = sock.getsockname(), sock.getpeername()
    except OSError as exc:
        raise UsageError(f"ss_view() needs a connected socket, but {sock!r} has no peer ({exc.strerror}); "
                         f"connect it first.") from exc
    family = "-4" if sock.family == socket.AF_INET else "-6"
    command = ["ss", family, "-tmioHn", "state", "all", f"( sport = :{local[1]} and dport = :{remote[1]} )"]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT, check=False)
    except subprocess.TimeoutExpired as exc:
        raise PeerError(f"ss did not answer within {TIMEOUT:g} s; run the cell again.") from exc
    # ss prints a connection's tcp_info on a second line (it wraps at the terminal's width): join them.
    text = " ".join(done.stdout.split())
    if done.returncode != 0 or not text:
        raise PeerError(f"ss found no connection from port {local[1]} to port {remote[1]} "
                        f"(exit status {done.returncode}{': ' + done.stderr.strip() if done.stderr.strip() else ''}).")
    return parse_ss(text)
