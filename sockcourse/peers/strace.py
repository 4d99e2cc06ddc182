"""The system calls underneath, seen, not asserted: a program run under strace, its calls as data.

    print(strace.unavailable())                       # None here; else one sentence saying why not
    with strace.Traced(built.command()) as server:    # the C echo server, traced
        host, port = server.listening()
        client = strace.run([sys.executable, "-c", CLIENT, host, str(port)])
    server.calls()                                    # list[Call], once the server has stopped
    strace.socket_part(client.calls)                  # from its first socket() on, socket calls only

strace (https://strace.io, `man 1 strace`) asks the kernel, through ptrace(2),
to stop the program at each system call and tell it the call's name, its
arguments and its result. That needs ptrace, which some containers forbid
(Binder's among them, often): `unavailable()` tries it once and says so in a
sentence, and every part of the course that traces asks it first.

How the course runs strace, and why each flag (strace 6.1 here):

    strace -f -q --seccomp-bpf -ttt -T -xx -s 256 -e trace=CALLS -o FILE -- PROGRAM ...

- `-f` follows every process and thread the program starts, each line
  beginning with its process id. When two processes are inside calls at once,
  strace writes a call in two halves: `accept4(3,  <unfinished ...>`, other
  lines, then `<... accept4 resumed>{...}, [16], SOCK_CLOEXEC) = 4`. The
  parser joins the halves into one `Call` (marked `interrupted`).
- `-q` hides "attached"/"detached" chatter but keeps `+++ exited with 0 +++`
  and `+++ killed by SIGINT +++` (and `--- SIGINT {...} ---` for signals):
  how each process ended is part of the story. (`-qq` would hide the exits.)
- `--seccomp-bpf` has the kernel stop the program only at the calls asked for,
  not at every call, so a traced Python starts about a third faster and the
  times are closer to the untraced program's.
- `-ttt` stamps each line with the Unix time in microseconds. Two programs
  traced by two strace processes share that clock, so their calls can be laid
  side by side; `-tt` (the time of day) would wrap at midnight.
- `-T` adds the time spent inside each call, `<0.411884>`: a blocking
  accept() shows how long it waited.
- `-xx` prints every byte of every string as `\\x68`: no quote, comma or
  bracket can hide in a string, so splitting the arguments is exact, and the
  bytes sent and received are recovered exactly (`Call.data`).
  `-X raw` is not used: AF_INET and SOCK_STREAM read better than 0x2 and 0x1.
- `-s 256` prints the first 256 bytes of each string (strace's default is 32).
- `-o FILE` keeps the trace apart from the program's own stdout and stderr, so
  `first_line()` still reads the server's "listening on ..." line; FILE lives
  in a private folder the handle owns and removes when it stops.

The trace file is read up to MAX_TRACE_BYTES; a longer one is cut at a whole
line and marked `truncated`. Everything comes back as plain data: `Call`,
`ProcessEvent` and `SyscallTrace`, each with `to_dict()`.
"""

from __future__ import annotations

import codecs
import functools
import ipaddress
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from ..core.checks import check_seconds
from ..core.errors import ArgumentError, ArgumentTypeError, PeerError, TimeLimitError, UsageError
from .process import QUOTED_ERROR, TERMINATE_GRACE, Peer

__all__ = ["C_TO_SYSCALL", "Call", "MAX_TRACE_BYTES", "Mapping", "NETWORK_CALLS", "PYTHON_TO_SYSCALL",
           "ProcessEvent", "STRACE_FLAGS", "SyscallTrace", "Traced", "Unavailable", "command", "pairs", "parse",
           "python_calls", "run", "side_by_side_rows", "socket_part", "split_args", "unavailable"]

#: The system calls traced unless told otherwise: strace's %network class (socket, bind, listen,
#: accept, connect, send*, recv*, shutdown, setsockopt, ...), the file calls a C program uses on a
#: socket (read, write, close), the waits (poll, select, epoll) and ioctl (Python's timeouts use
#: ioctl(FIONBIO)), and the calls that start processes, so -f can say which process is whose.
NETWORK_CALLS = ("%network", "read", "write", "readv", "writev", "close", "poll", "ppoll", "select",
                 "pselect6", "epoll_wait", "epoll_pwait", "ioctl", "clone", "clone3", "fork", "vfork")

#: The flags every trace gets; see the module's docstring for why each.
STRACE_FLAGS = ("-f", "-q", "--seccomp-bpf", "-ttt", "-T", "-xx", "-s", "256")

#: The most bytes of a trace file that are read (a chatty program's trace is cut, at a whole line).
MAX_TRACE_BYTES = 8 * 1024 * 1024

#: Seconds the one trial run of unavailable() may take.
PROBE_TIMEOUT = 10.0

#: Seconds run() lets a traced program run when no timeout is given.
RUN_TIMEOUT = 10.0

#: The most characters of a traced program's stdout or stderr kept by run().
KEPT_OUTPUT = 100_000

#: How a line of stdout says a server listens (every server peer of the course prints it first).
LISTENING = re.compile(r"listening on (?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<v4>[0-9.]+)):(?P<port>[0-9]{1,5})")

_CALL_NAME = re.compile(r"%?[a-z][a-z0-9_]{0,39}")


class Unavailable(PeerError):
    """strace cannot trace here (not installed, or ptrace is forbidden); the message says which and why."""


# -- may we trace here? ------------------------------------------------------------------------
def unavailable() -> str | None:
    """None if strace is installed AND may trace a program here; else one sentence saying why not.

    The answer is found by tracing one tiny program, once per strace found
    (so a different strace earlier on PATH is tried afresh).
    """
    if not sys.platform.startswith("linux"):
        return (f"strace traces Linux programs only, and this machine runs {sys.platform}; the traces of this "
                f"chapter need Linux (a Linux machine, a virtual machine or WSL 2 on Windows).")
    found = shutil.which("strace")
    if found is None:
        return ("strace is not installed here; install it to see the system calls, for example with "
                "'apt-get install strace' on Debian or Ubuntu (Binder installs what binder/apt.txt lists).")
    return _probe(os.path.realpath(found))


@functools.lru_cache(maxsize=8)
def _probe(strace: str) -> str | None:
    target = shutil.which("true") or sys.executable
    argv = [strace, *STRACE_FLAGS, "-e", "trace=none", "-o", os.devnull, "--", target]
    if target == sys.executable:
        argv += ["-c", "pass"]
    try:
        done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=PROBE_TIMEOUT)
    except subprocess.TimeoutExpired:
        return (f"strace is installed ({strace}) but tracing a program that does nothing did not end within "
                f"{PROBE_TIMEOUT:g} s; run 'strace true' in a terminal to see what it waits for.")
    except OSError as exc:
        return (f"strace is installed ({strace}) but could not be started ({exc.strerror or exc}); check that "
                f"the file may be run.")
    said = done.stderr.decode(errors="replace").strip()
    if done.returncode == 0:
        return None
    first = said.splitlines()[0][:QUOTED_ERROR] if said else "(nothing on stderr)"
    if _ptrace_refused(said):
        return (f"strace is installed but may not trace programs here: the kernel refused ptrace ({first!r}), "
                f"as containers often do on purpose, Binder's among them, since a process that may ptrace "
                f"another can read and change its memory{_yama_note()}; the traces of this chapter need a Linux "
                f"machine of your own, or a container started with '--cap-add SYS_PTRACE'.")
    return (f"strace is installed but tracing a program that does nothing failed with exit code "
            f"{done.returncode} ({first!r}); run 'strace true' in a terminal to see why.")


def _ptrace_refused(said: str) -> bool:
    text = said.lower()
    return "ptrace" in text and any(word in text for word in ("operation not permitted", "eperm",
                                                              "permission denied", "function not implemented"))


def _yama_note() -> str:
    try:
        scope = Path("/proc/sys/kernel/yama/ptrace_scope").read_text().strip()
    except OSError:
        return ""
    meaning = {"2": "only administrators may ptrace", "3": "nobody may ptrace"}.get(scope)
    return f" (here kernel.yama.ptrace_scope is {scope}: {meaning})" if meaning else ""


def _refuse_if_unavailable() -> None:
    said = unavailable()
    if said:
        raise Unavailable(said)


# -- the records ------------------------------------------------------------------------------
#: Calls whose first argument is a file descriptor.
_FD_FIRST = frozenset({
    "read", "write", "readv", "writev", "pread64", "pwrite64", "close", "shutdown", "ioctl", "fcntl",
    "bind", "listen", "connect", "accept", "accept4", "getsockname", "getpeername", "setsockopt",
    "getsockopt", "send", "recv", "sendto", "recvfrom", "sendmsg", "recvmsg", "sendmmsg", "recvmmsg"})

#: Calls that move bytes, and which way.
_OUT = frozenset({"write", "writev", "send", "sendto", "sendmsg", "pwrite64"})
_IN = frozenset({"read", "readv", "recv", "recvfrom", "recvmsg", "pread64"})

#: Calls that only ever concern sockets.
_SOCKET_ONLY = frozenset({
    "socket", "socketpair", "bind", "listen", "connect", "accept", "accept4", "getsockname", "getpeername",
    "setsockopt", "getsockopt", "shutdown", "send", "recv", "sendto", "recvfrom", "sendmsg", "recvmsg",
    "sendmmsg", "recvmmsg"})

_WAITS = frozenset({"poll", "ppoll", "select", "pselect6"})

_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"(\.\.\.)?')
_PORT = re.compile(r"sin6?_port=htons\((\d+)\)")
_V4 = re.compile(r'inet_addr\("((?:[^"\\]|\\.)*)"\)')
_V6 = re.compile(r'inet_pton\(AF_INET6, "((?:[^"\\]|\\.)*)"')
_UNIX = re.compile(r'sun_path="((?:[^"\\]|\\.)*)"')
_POLLED = re.compile(r"fd=(\d+)")


def _unescape(text: str) -> bytes:
    """The bytes of one of strace's string literals (without its quotes): \\x68, \\n, \\" and octal."""
    return codecs.escape_decode(text.encode("latin-1", errors="backslashreplace"))[0]


@dataclass(frozen=True)
class Call:
    """One system call as strace saw it.

    pid: the process (or thread) that made it; seconds: when it began, since
    the first line of its trace; name, args, result, errno: as strace printed
    them (args with strings in \\x hex; result "?" if the call never came
    back); error: strace's words for the errno; detail: what strace added
    after the result ("([{fd=3, revents=POLLIN}])"); duration: seconds inside
    the call (-T); time: the Unix time it began, to line up two traces;
    interrupted: written in two halves because another process ran meanwhile;
    finished: False if the trace ended while it was still inside the call.

    Filled in from the whole trace: fd (the descriptor it works on), on_socket
    (that descriptor, or the call itself, is a socket's), connection (which
    connection of the trace, 1, 2, ..., numbered by the connect() or accept()
    that made it), offset (where its bytes start in their direction of that
    connection), nbytes (bytes moved: the result of a read, write, send or recv).
    """

    pid: int
    seconds: float
    name: str
    args: str
    result: str
    errno: str | None = None
    error: str | None = None
    detail: str | None = None
    duration: float | None = None
    time: float = 0.0
    interrupted: bool = False
    finished: bool = True
    fd: int | None = None
    on_socket: bool = False
    connection: int | None = None
    offset: int | None = None
    nbytes: int | None = None

    @property
    def returned(self) -> int | None:
        """The result as a number, or None ("?", or not a number)."""
        try:
            return int(self.result, 0)
        except ValueError:
            return None

    @property
    def failed(self) -> bool:
        return self.errno is not None

    @property
    def direction(self) -> str | None:
        """"out" for calls that send or write bytes, "in" for those that receive or read, else None."""
        return "out" if self.name in _OUT else "in" if self.name in _IN else None

    @property
    def arguments(self) -> list[str]:
        """The arguments, split at the top-level commas."""
        return split_args(self.args)

    @property
    def data(self) -> bytes | None:
        """The bytes a send/write/recv/read carried (its first string), or None; cut ones end with b"..."."""
        if self.direction is None:
            return None
        match = _STRING.search(self.args)
        if match is None:
            return None
        return _unescape(match[1]) + (b"..." if match[2] else b"")

    @property
    def whole_data(self) -> bool:
        """True when `data` holds every byte the call moved (strace printed at most 256)."""
        match = _STRING.search(self.args) if self.direction else None
        return match is not None and not match[2]

    @property
    def address(self) -> str | None:
        """The first socket address in the arguments: "127.0.0.1:43121", "[::1]:43121" or a UNIX path."""
        port = _PORT.search(self.args)
        host = _V4.search(self.args) or _V6.search(self.args)
        if port and host:
            text = _unescape(host[1]).decode(errors="replace")
            return f"[{text}]:{port[1]}" if ":" in text else f"{text}:{port[1]}"
        path = _UNIX.search(self.args)
        if path:
            return _unescape(path[1]).decode(errors="replace") or "(unnamed)"
        return None

    @property
    def port(self) -> int | None:
        match = _PORT.search(self.args)
        return int(match[1]) if match else None

    @property
    def readable_args(self) -> str:
        """The arguments with each string shown as Python shows bytes (b'hello'), addresses as text."""
        def show(match):
            raw = _unescape(match[1])
            before = self.args[max(0, match.start() - 10):match.start()]
            if before.endswith(("inet_addr(", "sun_path=", "AF_INET6, ")):
                return '"' + raw.decode(errors="replace") + '"'
            return repr(raw) + ("..." if match[2] else "")
        return _STRING.sub(show, self.args)

    def outcome(self) -> str:
        """`= 5`, `= -1 EINPROGRESS`, or `= ? (still inside)`."""
        if not self.finished:
            return "= ? (still inside when the trace ended)"
        return f"= {self.result}" + (f" {self.errno}" if self.errno else "")

    def label(self, preview: int = 14) -> str:
        """A short line for a picture: the name and the arguments that matter (fd, address, byte count).

        `sendto(4, b'hello', 5) = 5`, `accept(3) = 4`, `connect(4, 127.0.0.1:43121) = -1 EINPROGRESS`.
        """
        words = self.arguments
        fd = "" if self.fd is None else str(self.fd)
        said = self.outcome()
        if self.name in ("socket", "socketpair"):
            shown = [w.replace("|SOCK_CLOEXEC", "") for w in words[:2]]
        elif self.name in ("bind", "connect"):
            shown = [fd, self.address or "?"]
        elif self.name in ("accept", "accept4", "getsockname", "getpeername"):
            shown = [fd]
            if self.address and not self.failed:
                said += f" ({'from' if self.name.startswith('accept') else 'is'} {self.address})"
        elif self.name in ("setsockopt", "getsockopt"):
            value = words[3] if len(words) > 3 else ""
            if value.startswith('"'):  # a struct strace shows as raw bytes: its size says more
                value = f"{words[4] if len(words) > 4 else '?'} bytes"
            shown = [fd, words[2] if len(words) > 2 else "", value.strip("[]")]
        elif self.name in ("sendmsg", "recvmsg"):
            parts = self.args.count("iov_base=")
            shown = [fd, f"{parts} buffer{'s' if parts != 1 else ''}"]
        elif self.direction is not None:
            data, text = self.data, ""
            if data is not None and self.nbytes is not None:
                text = repr(data[:preview]) + ("…" if len(data) > preview or not self.whole_data else "")
            shown = [fd, text, words[2] if len(words) > 2 else ""]
            if self.name in ("sendto", "recvfrom") and self.address:
                shown.append(self.address)
        elif self.name in _WAITS:
            shown = ["[" + ", ".join(sorted(set(_POLLED.findall(self.args)), key=int)) + "]"]
        elif self.name in ("shutdown", "listen"):
            shown = [fd, words[1] if len(words) > 1 else ""]
        elif self.name == "ioctl":
            shown = [w.strip("[]") for w in words[:3]]
        else:
            shown = [fd] if fd else words[:2]
        return f"{self.name}({', '.join(part for part in shown if part)}) {said}"

    def to_dict(self) -> dict:
        """The fields, and what is worked out from them; `data` as text, each byte one character (latin-1)."""
        data = self.data
        return {**asdict(self), "direction": self.direction, "address": self.address,
                "data": data.decode("latin-1") if data is not None else None, "label": self.label()}


@dataclass(frozen=True)
class ProcessEvent:
    """Something strace saw happen to a process that is not a call: a signal, or its end.

    kind: "signal" (detail: "SIGINT {si_signo=...}"), "exited" (detail: the
    exit code), "killed" (detail: the signal that ended it, "SIGINT").
    """

    pid: int
    seconds: float
    kind: str
    detail: str
    time: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class SyscallTrace:
    """The system calls of one traced program (and of every process it started), as plain data.

    calls: every call, in the order they began; events: signals and ends;
    unparsed: lines the parser did not understand (kept, never dropped
    silently); truncated: the trace file was longer than MAX_TRACE_BYTES and
    was cut. argv, returncode, stdout, stderr and seconds describe the run
    (returncode mirrors the program's: strace exits with its code, or -N if
    signal N ended it).
    """

    argv: list
    calls: list = field(default_factory=list)
    events: list = field(default_factory=list)
    unparsed: list = field(default_factory=list)
    truncated: bool = False
    returncode: int | None = None
    stdout: str = ""
    stderr: str = ""
    seconds: float = 0.0

    @property
    def socket_calls(self) -> list:
        """`socket_part(self.calls)`: the program's start-up cut, socket calls only."""
        return socket_part(self.calls)

    @property
    def pids(self) -> list:
        seen = {}
        for call in self.calls:
            seen.setdefault(call.pid, None)
        return list(seen)

    @property
    def ending(self) -> str | None:
        """How the first process ended: "exited with 0", "killed by SIGINT", or None if strace did not say."""
        first = self.pids[0] if self.pids else None
        for event in self.events:
            if event.pid == first and event.kind in ("exited", "killed"):
                return f"exited with {event.detail}" if event.kind == "exited" else f"killed by {event.detail}"
        return None

    def names(self) -> list[str]:
        return [call.name for call in self.calls]

    def to_dict(self) -> dict:
        return {"argv": list(self.argv), "calls": [c.to_dict() for c in self.calls],
                "events": [e.to_dict() for e in self.events], "unparsed": list(self.unparsed),
                "truncated": self.truncated, "returncode": self.returncode, "stdout": self.stdout,
                "stderr": self.stderr, "seconds": self.seconds, "ending": self.ending}


# -- the parser ------------------------------------------------------------------------------------
_LINE = re.compile(r"^(?:\[pid\s+)?(?P<pid>\d+)\]?\s+(?P<time>\d+\.\d+)\s+(?P<body>.*?)\s*$")
_UNFINISHED = re.compile(r"\s*<(?:unfinished|detached) \.\.\.>\)?$")
_RESUMED = re.compile(r"^<\.\.\. (?P<name>[a-z0-9_]+) resumed>\s?(?P<rest>.*)$")
_EXIT = re.compile(r"^\+\+\+ (?:exited with (?P<code>-?\d+)|killed by (?P<signal>\w+)(?: \(core dumped\))?) \+\+\+$")
_SIGNAL = re.compile(r"^--- (?P<what>.*) ---$")
_START = re.compile(r"^(?P<name>[a-z_][a-z0-9_]*)\((?P<rest>.*)$")
_DURATION = re.compile(r"\s+<(?P<seconds>\d+\.\d+|unavailable)>$")
_ERRNO = re.compile(r"^(?P<errno>E[A-Z0-9_]+)(?:\s+\((?P<text>[^)]*)\))?\s*(?P<detail>.*)$")


def _outside_strings(text: str):
    """Each (index, character, depth) of `text` outside string literals; depth: brackets open around it."""
    depth, quoted, escaped = 0, False, False
    for index, char in enumerate(text):
        if quoted:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                quoted = False
            continue
        if char == '"':
            quoted = True
            continue
        if char in ")]}":
            depth -= 1
        yield index, char, depth
        if char in "([{":
            depth += 1


def split_args(text: str) -> list[str]:
    """Split strace's argument text at the commas outside brackets and strings."""
    cuts = [index for index, char, depth in _outside_strings(text) if char == "," and depth == 0]
    if not cuts and not text.strip():
        return []
    bounds = [-1, *cuts, len(text)]
    return [text[a + 1:b].strip() for a, b in zip(bounds, bounds[1:])]


def _closing_paren(text: str) -> int:
    """Where the call's argument list ends in `text` (which starts just inside it); -1 if it does not."""
    return next((index for index, char, depth in _outside_strings(text) if char == ")" and depth < 0), -1)


def _outcome(tail: str) -> dict | None:
    """The parts of ` = 5 <0.000040>` (what follows the argument list); None if it is not that shape."""
    tail = tail.strip()
    if not tail.startswith("="):
        return None
    tail = tail[1:].strip()
    duration = None
    found = _DURATION.search(" " + tail)
    if found:
        tail = (" " + tail)[:found.start()].strip()
        duration = float(found["seconds"]) if found["seconds"] != "unavailable" else None
    result, _, rest = tail.partition(" ")
    errno = error = None
    detail = rest.strip() or None
    coded = _ERRNO.match(rest.strip()) if rest.strip() else None
    if coded:
        errno, error, detail = coded["errno"], coded["text"], coded["detail"] or None
    return {"result": result or "?", "errno": errno, "error": error, "detail": detail, "duration": duration}


def parse(text: str, *, argv=(), truncated: bool = False) -> SyscallTrace:
    """The trace strace wrote (with -f, -ttt and -T, as this module runs it), as a SyscallTrace.

    Halves of interrupted calls are joined; a call whose second half never
    came is kept with finished=False. Lines of any other shape go to
    `unparsed`, so nothing strace wrote is lost without a word.
    """
    if not isinstance(text, str):
        raise ArgumentTypeError(f"parse() reads the text strace wrote, as a str, but got {type(text).__name__}; "
                                f"read the file with Path(file).read_text() first.")
    entries: list = []         # a Call per call in the order they began (None: its end is still due)
    pending: dict = {}         # pid -> (index in entries, name, args so far, time)
    events, unparsed = [], []
    origin = None
    for raw in text.splitlines():
        line = _LINE.match(raw)
        if line is None:
            if raw.strip():
                unparsed.append(raw)
            continue
        pid, moment, body = int(line["pid"]), float(line["time"]), line["body"]
        origin = moment if origin is None else origin
        if (ended := _EXIT.match(body)) is not None:
            kind = "exited" if ended["code"] is not None else "killed"
            events.append(ProcessEvent(pid, moment - origin, kind, ended["code"] or ended["signal"], moment))
            continue
        if (signalled := _SIGNAL.match(body)) is not None:
            events.append(ProcessEvent(pid, moment - origin, "signal", signalled["what"], moment))
            continue
        if (resumed := _RESUMED.match(body)) is not None:
            if pid not in pending or pending[pid][1] != resumed["name"]:
                unparsed.append(raw)  # a second half whose first half was cut off by the size limit
                continue
            index, name, args, began = pending.pop(pid)
            rest = resumed["rest"]
            if _UNFINISHED.search(rest):  # interrupted again before it ended
                pending[pid] = (index, name, args + _UNFINISHED.sub("", rest), began)
                continue
            entries[index] = _complete(pid, began, origin, name, args + rest, raw, unparsed, interrupted=True)
            continue
        if (started := _START.match(body)) is None:
            unparsed.append(raw)
            continue
        if pid in pending:  # a new call while the last one never came back: the trace lost its end
            index, name, args, began = pending.pop(pid)
            entries[index] = _unfinished(pid, began, origin, name, args)
        if _UNFINISHED.search(body):
            entries.append(None)
            args = _UNFINISHED.sub("", started["rest"])
            pending[pid] = (len(entries) - 1, started["name"], args + (" " if args.endswith(",") else ""), moment)
            continue
        entries.append(_complete(pid, moment, origin, started["name"], started["rest"], raw, unparsed))
    for pid, (index, name, args, began) in pending.items():
        entries[index] = _unfinished(pid, began, origin, name, args)
    calls = _annotate([entry for entry in entries if entry is not None])
    return SyscallTrace(argv=list(argv), calls=calls, events=events, unparsed=unparsed, truncated=truncated)


def _unfinished(pid, began, origin, name, args) -> Call:
    return Call(pid=pid, seconds=began - origin, name=name, args=args.strip().rstrip(",").strip(), result="?",
                time=began, interrupted=True, finished=False)


def _complete(pid, began, origin, name, rest, raw, unparsed, interrupted=False) -> Call | None:
    end = _closing_paren(rest)
    outcome = _outcome(rest[end + 1:]) if end >= 0 else None
    if outcome is None:
        unparsed.append(raw)
        return None
    return Call(pid=pid, seconds=began - origin, name=name, args=rest[:end], time=began,
                interrupted=interrupted, **outcome)


class _Socket:
    """What the annotation pass knows of one socket: its connection number and bytes each way so far."""

    __slots__ = ("connection", "sent", "received")

    def __init__(self, connection: int | None = None):
        self.connection, self.sent, self.received = connection, 0, 0


def _annotate(calls: list) -> list:
    """Fill in fd, on_socket, connection, offset and nbytes, following each process's sockets in order.

    A child process (clone/fork without CLONE_FILES) starts with its parent's
    sockets, the very same ones, so bytes either of them sends count on one
    stream; a thread (CLONE_FILES) shares its parent's table outright.
    """
    tables: dict = {}
    connections = 0
    done = []
    for call in calls:
        table = tables.get(call.pid)
        if table is None:
            first = next(iter(tables.values()), {})
            table = tables[call.pid] = dict(first)  # a process whose start was not traced
        words = call.arguments
        fd = None
        if call.name in _FD_FIRST and words:
            try:
                fd = int(words[0])
            except ValueError:
                fd = None
        result = call.returned if call.finished else None
        on_socket = call.name in _SOCKET_ONLY or (fd is not None and fd in table)
        if call.name in _WAITS:
            on_socket = any(int(n) in table for n in _POLLED.findall(call.args))
        connection = offset = nbytes = None
        known = table.get(fd) if fd is not None else None
        if call.name == "socket" and result is not None and result >= 0:
            table[result] = _Socket()
        elif call.name == "socketpair" and result == 0:
            both = re.findall(r"\[(\d+), (\d+)\]", call.args)
            for end in both[-1] if both else ():  # the last argument: the two new descriptors
                connections += 1
                table[int(end)] = _Socket(connections)
        elif call.name in ("accept", "accept4") and result is not None and result >= 0:
            connections += 1
            table[result] = _Socket(connections)
            connection = connections
        elif call.name == "connect" and (result == 0 or call.errno == "EINPROGRESS") and fd is not None:
            connections += 1
            known = table.setdefault(fd, _Socket())
            known.connection = connection = connections
        elif call.name == "close" and fd is not None:
            table.pop(fd, None)  # on Linux the descriptor is gone whatever close() returned
        elif call.name in ("clone", "clone3", "fork", "vfork") and result is not None and result > 0:
            tables[result] = table if "CLONE_FILES" in call.args else dict(table)
        if known is not None and connection is None:
            connection = known.connection
        if call.direction is not None and on_socket and result is not None and result >= 0:
            nbytes = result
            if known is not None and known.connection is not None:
                offset = known.sent if call.direction == "out" else known.received
                if call.direction == "out":
                    known.sent += result
                else:
                    known.received += result
        done.append(replace(call, fd=fd, on_socket=on_socket, connection=connection, offset=offset,
                            nbytes=nbytes))
    return done


# -- plain-data helpers ---------------------------------------------------------------------------
def _calls_of(calls) -> list:
    if isinstance(calls, SyscallTrace):
        return list(calls.calls)
    if isinstance(calls, (str, bytes)) or not hasattr(calls, "__iter__"):
        raise ArgumentTypeError(f"Expected a list of Call records or a SyscallTrace, but got {type(calls).__name__}; "
                                f"for example strace.socket_part(trace.calls).")
    calls = list(calls)
    for call in calls:
        if not isinstance(call, Call):
            raise ArgumentTypeError(f"Expected Call records, but the list holds {call!r} "
                                    f"(type {type(call).__name__}); pass trace.calls.")
    return calls


def socket_part(calls, *, only_sockets: bool = True) -> list:
    """The calls from the first socket() on: the program's start-up (loading libraries, imports) cut.

    only_sockets: also drop the calls that concern no socket (Python reading
    a module's file after its first socket, writes to the terminal).
    """
    calls = _calls_of(calls)
    start = next((i for i, call in enumerate(calls) if call.name in ("socket", "socketpair")), len(calls))
    part = calls[start:]
    return [call for call in part if call.on_socket] if only_sockets else part


def pairs(left, right) -> list[tuple[int, int]]:
    """(i, j) for each send of one trace and recv of the other that carried the same bytes of a connection.

    Matched by order and size, not by watching the network: the k-th
    connection of one trace is taken to be the k-th of the other, and a send
    and a recv are paired when they start at the same byte of that connection
    and move the same number of bytes (and the bytes themselves agree, where
    strace printed them whole). A send that the receiver read in two pieces,
    or two sends read at once, pair with nothing. Indices are into the two
    lists as given; i belongs to `left`, j to `right`.
    """
    left, right = _calls_of(left), _calls_of(right)
    found = []
    for sender, receiver, flip in ((left, right, False), (right, left, True)):
        wanted = {}
        for j, call in enumerate(receiver):
            if call.direction == "in" and call.offset is not None and call.nbytes:
                wanted[(call.connection, call.offset, call.nbytes)] = j
        for i, call in enumerate(sender):
            if call.direction != "out" or call.offset is None or not call.nbytes:
                continue
            j = wanted.get((call.connection, call.offset, call.nbytes))
            if j is None:
                continue
            other = receiver[j]
            if call.whole_data and other.whole_data and call.data != other.data:
                continue
            found.append((j, i) if flip else (i, j))
    return sorted(found)


def side_by_side_rows(left, right) -> list[dict]:
    """The calls of two traces as one table in time order: ms since the earlier first call, left, right, pair.

    Each row holds one call (the other side's cell empty); `pair` numbers the
    send/recv pairs of `pairs()` (the same number on both rows), else None.
    """
    left, right = _calls_of(left), _calls_of(right)
    if not left and not right:
        return []
    origin = min(call.time for call in left + right)
    numbers = {}
    for number, (i, j) in enumerate(pairs(left, right), start=1):
        numbers[("left", i)] = numbers[("right", j)] = number
    rows = [(call.time, side, index, call) for side, calls in (("left", left), ("right", right))
            for index, call in enumerate(calls)]
    rows.sort(key=lambda row: (row[0], row[1]))
    return [{"ms": round((moment - origin) * 1000, 3), "pid": call.pid,
             "left": call.label() if side == "left" else "", "right": call.label() if side == "right" else "",
             "pair": numbers.get((side, index))} for moment, side, index, call in rows]


# -- running strace -------------------------------------------------------------------------------
def _check_calls(calls) -> tuple:
    if isinstance(calls, str):
        calls = tuple(part.strip() for part in calls.split(","))
    if not isinstance(calls, (tuple, list)) or not calls:
        raise ArgumentTypeError(f"calls must be a non-empty list of system call names, but got {calls!r}; "
                                f"for example calls=('%network', 'read', 'write', 'close').")
    for name in calls:
        if not isinstance(name, str) or not _CALL_NAME.fullmatch(name):
            raise ArgumentError(f"{name!r} is not a system call name strace knows the shape of; use lowercase names "
                                f"like 'sendto' or strace's classes like '%network'.")
    return tuple(calls)


def _check_argv(argv) -> list[str]:
    if isinstance(argv, (str, bytes)) or not isinstance(argv, (list, tuple)) or not argv:
        raise ArgumentTypeError(f"The program to trace must be a non-empty list of arguments, but got {argv!r}; "
                                f"for example [sys.executable, 'client.py'] or built.command().")
    words = []
    for word in argv:
        if not isinstance(word, (str, os.PathLike)):
            raise ArgumentTypeError(f"Each word of the command must be a string or a path, but got {word!r} "
                                    f"(type {type(word).__name__}) in {argv!r}; write it as str({word!r}).")
        words.append(os.fspath(word))
    return words


def command(argv, output, *, calls=NETWORK_CALLS) -> list[str]:
    """The strace command line that traces `argv` into the file `output` (see the module's docstring)."""
    return ["strace", *STRACE_FLAGS, "-e", "trace=" + ",".join(_check_calls(calls)), "-o", os.fspath(output),
            "--", *_check_argv(argv)]


def _read_trace(path: Path) -> tuple[str, bool]:
    """The trace file's text, at most MAX_TRACE_BYTES of it, cut at a whole line; and whether it was cut."""
    try:
        with open(path, "rb") as file:
            data = file.read(MAX_TRACE_BYTES + 1)
    except FileNotFoundError:
        return "", False
    truncated = len(data) > MAX_TRACE_BYTES
    if truncated:
        data = data[:data.rfind(b"\n", 0, MAX_TRACE_BYTES) + 1]
    return data.decode("utf-8", errors="replace"), truncated


def _signal_group(process: subprocess.Popen, number: int) -> None:
    """Signal strace and everything it traces (they share a process group of their own).

    strace itself holds back the signals that would end it while it runs a
    program (-I 3, its default with -o and a command), so the program gets
    them; strace then ends with it. SIGKILL ends strace too, and the
    program with it, since it went to the whole group.
    """
    if process.poll() is not None:
        return  # strace has ended: its group may be gone, and the number is not ours any more
    try:
        os.killpg(process.pid, number)
    except (ProcessLookupError, PermissionError):
        pass


def _end_group(process: subprocess.Popen, first: int, timeout: float) -> None:
    for number, wait in ((first, timeout), (signal.SIGTERM, TERMINATE_GRACE), (signal.SIGKILL, TERMINATE_GRACE)):
        _signal_group(process, number)
        try:
            process.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


def run(argv, *, timeout: float = RUN_TIMEOUT, calls=NETWORK_CALLS, input: bytes | None = None) -> SyscallTrace:
    """Trace a program from its start to its end and return its calls; it may run `timeout` seconds.

    A program still running at the timeout is ended (with strace) and
    TimeLimitError says so. The program's exit code, stdout and stderr come
    back in the SyscallTrace: a program that fails is traced all the same.
    """
    words = _check_argv(argv)
    timeout = check_seconds(timeout, "timeout", none_ok=False, example=RUN_TIMEOUT)
    if input is not None and not isinstance(input, (bytes, bytearray)):
        raise ArgumentTypeError(f"input must be bytes (or None), but got {type(input).__name__}; "
                                f"for example input=b'hello\\n'.")
    _refuse_if_unavailable()
    folder = Path(tempfile.mkdtemp(prefix="sockcourse-strace-"))
    try:
        output = folder / "trace.txt"
        argv_strace = command(words, output, calls=calls)
        began = time.perf_counter()
        try:
            process = subprocess.Popen(argv_strace, stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        except OSError as exc:
            raise PeerError(f"strace could not be started ({exc.strerror or exc}); "
                            f"run strace.unavailable() to see why.") from None
        try:
            stdout, stderr = process.communicate(input=input, timeout=timeout)
        except subprocess.TimeoutExpired:
            _end_group(process, signal.SIGTERM, TERMINATE_GRACE)
            process.communicate()
            raise TimeLimitError(f"The traced program {words[0]!r} was still running after {timeout:g} s, so it was "
                                 f"ended; give it more time with timeout=..., or check that it ends by itself "
                                 f"(a client that waits for a server that never answers does not).") from None
        finally:
            _end_group(process, signal.SIGKILL, TERMINATE_GRACE)
        seconds = time.perf_counter() - began
        text, truncated = _read_trace(output)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    trace = parse(text, argv=words, truncated=truncated)
    trace.returncode = process.returncode
    trace.stdout = stdout.decode(errors="replace")[-KEPT_OUTPUT:]
    trace.stderr = stderr.decode(errors="replace")[-KEPT_OUTPUT:]
    trace.seconds = seconds
    _refuse_empty(trace, words)
    return trace


def _refuse_empty(trace: SyscallTrace, words: list) -> None:
    """A trace with no line at all means strace failed to start the program; say what strace said."""
    if trace.calls or trace.events:
        return
    said = trace.stderr.strip().splitlines()
    said = said[-1][:QUOTED_ERROR] if said else "nothing"
    raise PeerError(f"strace traced nothing of {' '.join(words)[:200]!r} (exit code {trace.returncode}); strace or "
                    f"the program said {said!r}; check that the program exists and runs without strace.")


class Traced(Peer):
    """A program (a server) running in the background under strace; its calls are read when it stops.

        with strace.Traced(built.command()) as server:
            host, port = server.listening()      # its "listening on ..." line
            ...                                  # talk to it
        server.calls()                           # list[Call]

    It is a `process.Peer`: stopped at the end of its `with` block, by
    `stop()`, by `sockcourse.stop_all()` or when its notebook cell runs again.
    stop() sends `stop_signal` (SIGINT) to the program; one that will not end
    gets SIGTERM, then SIGKILL, strace with it. The trace file lives in a
    private folder of the handle's, removed when it stops.
    """

    what = "traced program"

    def __init__(self, argv, *, calls=NETWORK_CALLS, stop_signal: int = signal.SIGINT, name: str | None = None):
        words = _check_argv(argv)
        self._calls_asked = _check_calls(calls)
        _refuse_if_unavailable()
        self._folder = Path(tempfile.mkdtemp(prefix="sockcourse-strace-"))
        self._trace: SyscallTrace | None = None
        self.traced_argv = words
        self.address: tuple | None = None
        try:
            super().__init__(command(words, self._folder / "trace.txt", calls=self._calls_asked),
                             stop_signal=stop_signal, name=name or f"strace {Path(words[0]).stem}",
                             start_new_session=True)
        except BaseException:
            shutil.rmtree(self._folder, ignore_errors=True)
            raise

    @property
    def trace_file(self) -> Path:
        """The file strace writes to while the program runs (to look at it raw); removed at stop()."""
        return self._folder / "trace.txt"

    def listening(self, timeout: float = 10.0) -> tuple[str, int]:
        """Read the server's first line, `listening on HOST:PORT`, and return (host, port); HOST must be loopback."""
        line = self.first_line(timeout)
        match = LISTENING.search(line)
        if match is None:
            raise PeerError(f"The traced program {self.name!r} printed {line[:200]!r} first, but a server of the "
                            f"course says 'listening on HOST:PORT' first, for example 'listening on 127.0.0.1:43121'.")
        host = match["v6"] or match["v4"]
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        port = int(match["port"])
        if not loopback or not 0 < port < 65536:
            raise PeerError(f"The traced program {self.name!r} says it listens on {host}:{port}, which is not a "
                            f"loopback address and port; the course talks to this machine only (127.0.0.1 or ::1).")
        self.address = (host, port)
        return self.address

    def _stop(self, timeout: float) -> None:
        _end_group(self.process, self.stop_signal, timeout)
        super()._stop(TERMINATE_GRACE)  # the pipes and what was said on stderr
        text, truncated = _read_trace(self.trace_file)
        trace = parse(text, argv=self.traced_argv, truncated=truncated)
        trace.returncode = self.process.returncode
        trace.stderr = self.stderr_text[-KEPT_OUTPUT:]
        self._trace = trace

    def _close(self) -> None:
        if self.process is not None:
            _signal_group(self.process, signal.SIGKILL)
        super()._close()
        shutil.rmtree(self._folder, ignore_errors=True)

    def syscall_trace(self) -> SyscallTrace:
        """Everything strace saw, once the program has stopped."""
        if self._trace is None:
            raise UsageError(f"The traced program {self.name!r} is still running, and its trace is read when it "
                             f"stops; call stop() first (or leave its with block), then ask again.")
        return self._trace

    def calls(self) -> list:
        """The program's calls (a list of Call), once it has stopped."""
        return list(self.syscall_trace().calls)


# -- Python's calls and the system's ----------------------------------------------------------------
@dataclass(frozen=True)
class Mapping:
    """What one line of Python did underneath, as strace showed it on the machine the course was written on.

    syscalls: the call names in order; shape: one of them as strace printed it
    (fd numbers and ports are this run's); note: why, and how other systems differ.
    """

    syscalls: tuple
    shape: str
    note: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


#: Each line of Python, run in this order by python_calls(), and the system calls strace showed for it
#: on Linux 6.18 x86_64, glibc 2.36, CPython 3.11, strace 6.1. python_calls() traces the same lines
#: afresh, and tests/test_strace.py checks that the names still agree.
PYTHON_TO_SYSCALL: dict = {}

#: The C library functions of echo_server.c whose system call is not the function's own name
#: (traced on the same machine; tests/test_strace.py checks them against the traced C server).
C_TO_SYSCALL: dict = {}

_RUNNER = (
    "import os, socket, sys\n"
    "namespace = {'os': os, 'socket': socket}\n"
    "for line in sys.argv[1:] + ['(end)']:\n"
    "    os.write(2, b'== ' + line.encode() + b'\\n')\n"  # the mark: one write(2, ...) before each line
    "    if line != '(end)':\n"
    "        exec(line, namespace)\n"
)

_MARK = b"== "


def python_calls(lines=None, *, timeout: float = RUN_TIMEOUT) -> dict:
    """Run lines of Python under strace, one after the other in one process; what each did underneath.

    Returns {line: [Call, ...]}. Before each line the program writes
    `== line` to its stderr with one os.write(), and the trace is cut at
    those writes. `lines` defaults to the keys of PYTHON_TO_SYSCALL.
    """
    lines = list(PYTHON_TO_SYSCALL) if lines is None else lines
    if isinstance(lines, str) or not all(isinstance(line, str) and "\n" not in line for line in lines) or not lines:
        raise ArgumentTypeError(f"lines must be a non-empty list of one-line Python statements, but got {lines!r}; "
                                f"for example ['s = socket.socket()', 's.close()'].")
    trace = run([sys.executable, "-c", _RUNNER, *lines], timeout=timeout)
    if trace.returncode != 0:
        said = trace.stderr.strip().splitlines()
        raise PeerError(f"The traced lines of Python failed (exit code {trace.returncode}): "
                        f"{(said[-1] if said else 'nothing on stderr')[:QUOTED_ERROR]!r}; run them without strace "
                        f"to see the error.")
    found: dict = {}
    current = None
    for call in trace.calls:
        data = call.data if call.name == "write" and call.fd == 2 else None
        if data is not None and data.startswith(_MARK):
            current = data[len(_MARK):].rstrip(b"\n").decode(errors="replace")
            if current != "(end)":
                found.setdefault(current, [])
            continue
        if current not in (None, "(end)") and call.on_socket:
            found[current].append(call)  # not the module files a line's first use may read
    return found


def _table(rows) -> dict:
    return {line: Mapping(tuple(names.split()), shape, note) for line, names, shape, note in rows}


_CLOEXEC = ("CPython adds SOCK_CLOEXEC, so a program started later does not inherit the socket (PEP 446); "
            "where the flag does not exist it takes one more call to say so.")
_WRAPS = ("then getsockname() on the new descriptor: CPython asks each descriptor it wraps in a socket "
          "object for its address, socketpair() shows it too")
_NO_SEND = "x86_64 Linux has no send or recv system call of its own, so the C library's send() and recv() "
_TIMEOUT = ("with a timeout Python keeps the socket non-blocking underneath and waits in poll() itself, at most "
            "the timeout (5000 ms), before the call")

PYTHON_TO_SYSCALL.update(_table([
    ("listener = socket.socket()", "socket",
     "socket(AF_INET, SOCK_STREAM|SOCK_CLOEXEC, IPPROTO_IP) = 3", _CLOEXEC),
    ("listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)", "setsockopt",
     "setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0", "the 1 travels as a C int: 4 bytes"),
    ("listener.bind(('127.0.0.1', 0))", "bind",
     'bind(3, {sa_family=AF_INET, sin_port=htons(0), sin_addr=inet_addr("127.0.0.1")}, 16) = 0',
     "the address as a 16-byte struct sockaddr_in, the port in network byte order (htons)"),
    ("listener.listen(8)", "listen", "listen(3, 8) = 0", ""),
    ("address = listener.getsockname()", "getsockname",
     'getsockname(3, {sa_family=AF_INET, sin_port=htons(44237), sin_addr=inet_addr("127.0.0.1")}, [16]) = 0',
     "the only way to learn which port the kernel chose for port 0"),
    ("client = socket.create_connection(address)", "socket connect",
     'connect(4, {sa_family=AF_INET, sin_port=htons(44237), sin_addr=inet_addr("127.0.0.1")}, 16) = 0',
     "no timeout: one socket() and one blocking connect(); 127.0.0.1 is a number, so no name lookup runs"),
    ("conn, peer = listener.accept()", "accept4 getsockname",
     'accept4(3, {sa_family=AF_INET, sin_port=htons(59136), sin_addr=inet_addr("127.0.0.1")}, [16], '
     'SOCK_CLOEXEC) = 5',
     "accept4 rather than accept, for SOCK_CLOEXEC; " + _WRAPS + ". C's accept() is the accept system call"),
    ("client.send(b'hello')", "sendto", 'sendto(4, "hello", 5, 0, NULL, 0) = 5',
     _NO_SEND + "are sendto(fd, buf, n, flags, NULL, 0) and recvfrom(fd, buf, n, flags, NULL, NULL); the C "
     "server's send() shows the same"),
    ("conn.recv(1024)", "recvfrom", 'recvfrom(5, "hello", 1024, 0, NULL, NULL) = 5',
     "recv(1024) asks for up to 1024 bytes and gets what has arrived: 5"),
    ("conn.sendall(b'hello')", "sendto", 'sendto(5, "hello", 5, 0, NULL, 0) = 5',
     "sendall() calls sendto() until every byte is taken; one call when the kernel takes them all, as here"),
    ("client.recv_into(bytearray(1024))", "recvfrom", 'recvfrom(4, "hello", 1024, 0, NULL, NULL) = 5',
     "the same call as recv(), into the caller's buffer"),
    ("conn.sendmsg([b'two ', b'parts'])", "sendmsg",
     'sendmsg(5, {msg_name=NULL, msg_namelen=0, msg_iov=[{iov_base="two ", iov_len=4}, '
     '{iov_base="parts", iov_len=5}], msg_iovlen=2, msg_controllen=0, msg_flags=0}, 0) = 9',
     "several buffers in one call (gather), and room for ancillary data such as passed descriptors"),
    ("client.settimeout(5.0)", "ioctl", "ioctl(4, FIONBIO, [1]) = 0",
     "a timeout makes the socket non-blocking in the kernel; Python does the waiting (next two lines)"),
    ("client.recv(1024)", "poll recvfrom", 'recvfrom(4, "two parts", 1024, 0, NULL, NULL) = 9',
     _TIMEOUT + "; the two buffers of sendmsg arrive as one stream of 9 bytes"),
    ("client.sendall(b'more')", "poll sendto", 'sendto(4, "more", 4, 0, NULL, 0) = 4', _TIMEOUT),
    ("conn.recvmsg(1024)", "recvmsg",
     'recvmsg(5, {msg_name=0x7ffe71284820, msg_namelen=16 => 0, msg_iov=[{iov_base="more", iov_len=1024}], '
     'msg_iovlen=1, msg_controllen=0, msg_flags=0}, 0) = 4', ""),
    ("os.write(client.fileno(), b'raw')", "write", 'write(4, "raw", 3) = 3',
     "a socket is a file descriptor on Linux: write() works on it, as the C server's read() does"),
    ("os.read(conn.fileno(), 1024)", "read", 'read(5, "raw", 1024) = 3', ""),
    ("client.shutdown(socket.SHUT_WR)", "shutdown", "shutdown(4, SHUT_WR) = 0",
     "the end of what this side sends (TCP's FIN); it can still receive"),
    ("conn.recv(1024)  # after the client's shutdown", "recvfrom", 'recvfrom(5, "", 1024, 0, NULL, NULL) = 0',
     "0 bytes, b'' in Python: the end of the stream"),
    ("client.close()", "close", "close(4) = 0",
     "the descriptor is freed; on Windows a socket is not a file descriptor, and Python calls Winsock's "
     "closesocket() instead (not traced here)"),
    ("second = socket.create_connection(address, timeout=5.0)", "socket ioctl connect poll getsockopt",
     'connect(4, {sa_family=AF_INET, sin_port=htons(44237), sin_addr=inet_addr("127.0.0.1")}, 16) = -1 '
     "EINPROGRESS (Operation now in progress)",
     "a connect with a timeout: non-blocking, so connect() says EINPROGRESS, poll() waits until the socket is "
     "writable, and getsockopt(SO_ERROR) reads the result (0: connected)"),
    ("udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)", "socket",
     "socket(AF_INET, SOCK_DGRAM|SOCK_CLOEXEC, IPPROTO_IP) = 6", _CLOEXEC),
    ("udp.bind(('127.0.0.1', 0))", "bind",
     'bind(6, {sa_family=AF_INET, sin_port=htons(0), sin_addr=inet_addr("127.0.0.1")}, 16) = 0', ""),
    ("here = udp.getsockname()", "getsockname",
     'getsockname(6, {sa_family=AF_INET, sin_port=htons(44620), sin_addr=inet_addr("127.0.0.1")}, [16]) = 0', ""),
    ("udp.sendto(b'ping', here)", "sendto",
     'sendto(6, "ping", 4, 0, {sa_family=AF_INET, sin_port=htons(44620), sin_addr=inet_addr("127.0.0.1")}, 16) = 4',
     "an unconnected datagram socket: the address travels with each datagram (NULL for a connected socket)"),
    ("udp.recvfrom(1024)", "recvfrom",
     'recvfrom(6, "ping", 1024, 0, {sa_family=AF_INET, sin_port=htons(44620), sin_addr=inet_addr("127.0.0.1")}, '
     "[16]) = 4", "and the kernel fills in who sent it"),
    ("left, right = socket.socketpair()", "socketpair getsockname getsockname",
     "socketpair(AF_UNIX, SOCK_STREAM|SOCK_CLOEXEC, 0, [7, 8]) = 0",
     "two connected UNIX sockets in one call; " + _WRAPS.replace("the new descriptor", "each end")),
]))

C_TO_SYSCALL.update(_table([
    ("int listener = socket(AF_INET, SOCK_STREAM, 0);", "socket",
     "socket(AF_INET, SOCK_STREAM, IPPROTO_IP) = 3",
     "protocol 0 means the family's default, which strace names IPPROTO_IP; no SOCK_CLOEXEC unless asked"),
    ('printf("listening on ...\\n"); fflush(stdout);', "write",
     'write(1, "listening on 127.0.0.1:36373\\n", 29) = 29',
     "printf only fills the C library's buffer; the flush is the one system call"),
    ("int conn = accept(listener, NULL, NULL);", "accept", "accept(3, NULL, NULL) = 4",
     "NULL, NULL: the server does not ask who connected; Python's accept() asks (accept4 with an address)"),
    ("setsockopt(conn, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);", "setsockopt",
     'setsockopt(4, SOL_SOCKET, SO_RCVTIMEO_OLD, "\\x0a\\x00...", 16) = 0',
     "a struct timeval of 16 bytes; on 64-bit Linux SO_RCVTIMEO is SO_RCVTIMEO_OLD, the original option, whose "
     "timeval already has a 64-bit tv_sec (_NEW is the variant for 32-bit systems)"),
    ("read(conn, buffer, sizeof buffer);", "read", 'read(4, "hello", 4096) = 5', ""),
    ("send(conn, data, (size_t)n, 0);", "sendto", 'sendto(4, "hello", 5, 0, NULL, 0) = 5',
     "glibc's send() is sendto() with no address, exactly as Python's"),
    ("close(conn);", "close", "close(4) = 0", ""),
]))
