"""Chapter 03 homework (UNIX sockets): stale files, a datagram server, passing a descriptor, peer credentials.

q1 `bind_unix(path)`: a listening UNIX stream socket at `path` that removes a
   stale socket file, but never the file of a live (or busy) server, never a
   file that is not a socket, refuses a path too long for sun_path (but
   binds one of exactly 107 bytes), and closes its socket when bind() fails.
q2 `dgram_server(sock)`: the chapter's `DONE` datagram server, made to
   survive unnamed clients, clients that vanished, big and empty datagrams,
   and datagrams that only look like `DONE`.
q3 `receive_file(conn)`: receive one descriptor (SCM_RIGHTS) from a real
   second process, of a file that process has already unlinked, read the
   file from its first byte, and close every descriptor that arrived.
q4 `authorize(conn)` (Linux): believe the kernel (SO_PEERCRED), not the pid
   a client claims, and take only a JSON integer for a pid.

Every condition uses real sockets: UNIX socket files in the condition's
private folder, the Linux abstract namespace, and child processes started
from `ch03_peers.py`. No fault-injecting link here: nothing between two
processes on one machine loses or cuts a UNIX datagram (unix(7)).
"""

from __future__ import annotations

import errno
import json
import os
import select
import socket
import stat
import struct
import sys
import threading
import time

from ..core.errors import describe
from ..peers.process import Peer
from . import ch03_peers
from .core import Question, failed, passed, plural, skipped, summary as _summary, text

CHAPTER = "03_unix"

#: The program every child process of this homework runs, as `python -I -S ch03_peers.py ...`
#: (without site, a child starts in about 20 ms instead of 60).
PEER_SCRIPT = os.path.abspath(ch03_peers.__file__)

#: The longest path, in bytes, that Python's bind() and connect() accept for AF_UNIX: sun_path
#: holds 108 bytes on Linux (unix(7)), one of which Python keeps for the final NUL.
MAX_PATH_BYTES = 107

#: Seconds a check waits for a child process to connect.
CHILD_CONNECT = 5.0


def _child(ctx, *args: str, name: str) -> Peer:
    """One of ch03_peers.py's programs in a process of its own, stopped when the condition ends."""
    return ctx.own(Peer([sys.executable, "-I", "-S", PEER_SCRIPT, *args], name=name))


def _accept(ctx, listener: socket.socket, child: Peer) -> socket.socket:
    """The connection `child` makes to `listener`, owned by the condition; a clear error if it never comes."""
    listener.settimeout(CHILD_CONNECT)
    try:
        conn, _ = listener.accept()
    except socket.timeout:
        child.stop(timeout=1.0)
        raise RuntimeError(f"the check's child process did not connect within {CHILD_CONNECT:.0f} s "
                           f"(exit code {child.returncode}; it said {child.stderr_text!r})") from None
    ctx.own(conn)
    conn.settimeout(None)  # the student's code decides its own timeouts
    return conn


class _CloseOnStop:
    """A socket the check closes when a student's call runs out of time (ctx stops it like a server).

    Shutting a listening UNIX socket down does not wake a client blocked in
    connect() on it; closing it does.
    """

    def __init__(self, sock: socket.socket):
        self.sock = sock

    def stop(self, timeout: float = 0.0) -> None:
        self.sock.close()


def _show(value) -> str:
    """A value the student's code gave, for a report: a str in quotes, so that 'True' is not True."""
    if isinstance(value, str):
        shown = repr(value)
        return shown if len(shown) <= 80 else f"{shown[:55]} ... {shown[-20:]} ({len(value):,} characters)"
    return text(value)


def _did_text(outcome) -> str:
    """What a call did, in words, a returned str quoted."""
    return f"returned {_show(outcome.value)}" if outcome.returned else outcome.text()


# ====================================================================================
q1 = Question(CHAPTER, "q1", answer="bind_unix", title="Bind a UNIX socket path safely", section="4")

q1.hint("bind-listen",
        "Make an AF_UNIX, SOCK_STREAM socket, bind() it to the path you were given, call listen(), and return "
        "the socket itself, open (chapter 03, section 1 'A socket that is a file').")
q1.hint("remove-stale",
        "A server that died leaves its socket file behind, and bind() then fails with EADDRINUSE. When "
        "connect() to that file fails with ConnectionRefusedError, no one listens there: os.unlink() it, "
        "then bind (chapter 03, section 4 'A stale socket file').")
q1.hint("probe-first",
        "Never unlink a socket file before you know its server is gone: try to connect() to it first, and "
        "remove it only when that fails with ConnectionRefusedError. A live server keeps listening, but "
        "nobody can find it once its name is gone (chapter 03, section 4, remove_if_stale).")
q1.hint("in-use-error",
        "When a server is alive at the path (connect() succeeds, or fails with anything other than "
        "ConnectionRefusedError, such as BlockingIOError when its queue is full), leave the file alone and "
        "raise OSError(errno.EADDRINUSE, os.strerror(errno.EADDRINUSE), path) (chapter 03, section 4).")
q1.hint("not-a-socket",
        "Check what the file is before anything else: os.stat(path).st_mode with stat.S_ISSOCK. A file that "
        "is not a socket is someone's data: raise FileExistsError (an OSError) and never delete it "
        "(connect() to a regular file also fails with ConnectionRefusedError, so it cannot tell you). "
        "Chapter 03, section 1 shows S_ISSOCK.")
q1.hint("path-length",
        "sun_path holds 108 bytes on Linux, the final NUL included, so a path of more than 107 bytes cannot "
        "be bound. Count bytes, not characters (len(os.fsencode(path))), and raise ValueError before you "
        "touch the file system (unix(7); chapter 03, section 1).")
q1.hint("longest-fits",
        "A path of exactly 107 bytes fits in sun_path (107 bytes and the final NUL make 108): bind it. Only a "
        "path of more than 107 bytes is too long; check your comparison at the limit (unix(7)).")
q1.hint("close-on-error",
        "When bind() or listen() fails, the socket you made is still open, and the error carries it away "
        "(its traceback holds your function's variables) until the garbage collector gets to it. Close it "
        "before the error leaves your function: a try/except around bind() and listen() that closes it and "
        "raises the same error again (the statement of q1 asks for it).")
q1.hint("probe-timeout",
        "A connect() to a server whose accept queue is full waits until there is room, which may be never. "
        "Give the probe socket a timeout (settimeout(0.5)) before you connect (chapter 03, section 4, "
        "remove_if_stale uses one).")
q1.hint("only-refused",
        "Only ConnectionRefusedError means the file is stale. A timeout, BlockingIOError (EAGAIN: the "
        "server is busy) or any other error means a server may be there: do not unlink, raise "
        "OSError(errno.EADDRINUSE, ...) (chapter 03, section 4).")


def _problem_with(sock, path: str) -> str:
    """Why `sock` is not a listening UNIX stream socket bound to `path`, or '' if it is one."""
    if not isinstance(sock, socket.socket):
        return f"your function returned {_show(sock)}, not a socket"
    if sock.fileno() == -1:
        return "your function returned a closed socket"
    if sock.family != socket.AF_UNIX or sock.type != socket.SOCK_STREAM:
        return f"your function returned a {sock.family.name}, {sock.type.name} socket, not AF_UNIX, SOCK_STREAM"
    name = sock.getsockname()
    if name != path:
        return f"the socket you returned is bound to {text(name) if name else 'nothing'}, not to the path"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        client.settimeout(1.0)
        try:
            client.connect(path)
        except OSError as exc:
            return f"a client's connect() to the path failed with {describe(exc)}: is the socket listening?"
        if not select.select([sock], [], [], 1.0)[0]:
            return "a client connected, but your socket had nothing to accept within 1 s"
        accepted, _ = sock.accept()
        accepted.close()
    return ""


def _did(outcome) -> str:
    """What the student's call did, in words; a returned socket by what it is, not by its repr."""
    if outcome.returned and isinstance(outcome.value, socket.socket):
        return "returned a new listening socket at the path" if outcome.value.fileno() != -1 else \
            "returned a closed socket"
    return _did_text(outcome)


def _call_bind(ctx, student, path: str, *, budget: float | None = None):
    outcome = ctx.call(student, path, budget=budget)
    if outcome.returned and isinstance(outcome.value, socket.socket):
        ctx.own(outcome.value)
    return outcome


def _sock_name(ctx) -> str:
    return f"{ctx.rng.choice(['app', 'db', 'queue', 'api', 'cache'])}-{ctx.rng.randrange(1000)}.sock"


def _file_state(path: str):
    """What is at `path` now, for comparing before and after: (kind, inode, size, mtime) or None."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return None
    kind = "socket" if stat.S_ISSOCK(info.st_mode) else "regular file" if stat.S_ISREG(info.st_mode) else "other"
    return kind, info.st_ino, info.st_size, info.st_mtime_ns


def _what_happened(before, after) -> str:
    if after is None:
        return f"the {before[0]} at the path was deleted"
    if after[:2] != before[:2]:
        return f"the {before[0]} at the path was replaced by another {after[0]}"
    return f"the {before[0]} at the path was changed"


@q1.condition("fresh", "nothing at the path yet: a listening socket")
def _(student, ctx):
    path = os.path.join(ctx.tmpdir, _sock_name(ctx))
    return _binds(ctx, student, path, what=f"bind_unix(<tmp>/{os.path.basename(path)}), nothing at that path",
                  hint="bind-listen", expected="a listening socket bound to the path")


def _binds(ctx, student, path: str, *, what: str, hint, expected: str, **call):
    """The verdict on bind_unix(path) where it must succeed: a listening socket bound to `path`.

    hint: the hint when the call does not return, or a function of the Outcome that picks it.
    """
    outcome = _call_bind(ctx, student, path, **call)
    if not outcome.returned:
        return failed(f"your function {_did(outcome)}", hint=hint(outcome) if callable(hint) else hint,
                      sent=what, expected=expected)
    problem = _problem_with(outcome.value, path)
    if problem:
        return failed(problem, hint="bind-listen", sent=what, expected="a listening AF_UNIX stream socket")
    return passed()


@q1.condition("stale", "a stale socket file, left by a server that died: removed, then bound")
def _(student, ctx):
    path = os.path.join(ctx.tmpdir, _sock_name(ctx))
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as dead:
        dead.bind(path)
        dead.listen()
    # Closed without unlink(): what a killed server leaves (chapter 03, section 4).
    return _binds(ctx, student, path, what="bind_unix(path) where a socket file is left by a closed server "
                  "(connect() is refused)", hint="remove-stale",
                  expected="the stale file removed, and a new listening socket")


@q1.condition("live", "a live server at the path: OSError(EADDRINUSE), and the server keeps its file")
def _(student, ctx):
    path = os.path.join(ctx.tmpdir, _sock_name(ctx))
    server = ctx.own(socket.socket(socket.AF_UNIX, socket.SOCK_STREAM))
    server.bind(path)
    server.listen(16)
    ctx.own(_CloseOnStop(server))
    before = _file_state(path)
    what = "bind_unix(path) where a live server listens"
    outcome = _call_bind(ctx, student, path, budget=2.0)
    after = _file_state(path)
    if after != before:
        return failed(f"{_what_happened(before, after)}: the live server lost its name, and no client can "
                      f"reach it any more", hint="probe-first", sent=what,
                      expected="OSError(EADDRINUSE), the server's file untouched", got=_did(outcome))
    if outcome.kind in ("blocked", "still-running"):
        return failed(f"your function {_did(outcome)}", hint="in-use-error", sent=what,
                      expected="OSError(EADDRINUSE) at once")
    if not (outcome.raised and isinstance(outcome.error, OSError) and outcome.error.errno == errno.EADDRINUSE):
        return failed(f"your function {_did(outcome)}", hint="in-use-error", sent=what,
                      expected="OSError with errno EADDRINUSE")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        client.settimeout(1.0)
        try:
            client.connect(path)
        except OSError as exc:
            return failed(f"afterwards a client could not reach the live server ({describe(exc)})",
                          hint="probe-first", sent=what, expected="the live server still accepts")
    return passed("raised EADDRINUSE; the live server still accepts")


@q1.condition("regular-file", "a regular file at the path: an OSError, and the file untouched")
def _(student, ctx):
    path = os.path.join(ctx.tmpdir, ctx.rng.choice(["notes.txt", "data.sock", "config"]))
    data = f"precious data {ctx.rng.randrange(10 ** 6)}\n".encode()
    with open(path, "wb") as f:
        f.write(data)
    before = _file_state(path)
    what = f"bind_unix(path) where a regular file holds {text(data)}"
    outcome = _call_bind(ctx, student, path, budget=2.0)
    after = _file_state(path)
    if after != before:
        return failed(f"{_what_happened(before, after)}: it was not a socket, and someone's data is gone",
                      hint="not-a-socket", sent=what, expected="an OSError, the file untouched", got=_did(outcome))
    with open(path, "rb") as f:
        if f.read() != data:
            return failed("the regular file's content changed", hint="not-a-socket", sent=what,
                          expected="the file untouched")
    if not (outcome.raised and isinstance(outcome.error, OSError)):
        return failed(f"your function {_did(outcome)}", hint="not-a-socket", sent=what,
                      expected="an OSError, such as FileExistsError")
    return passed(f"raised {type(outcome.error).__name__}; the file is untouched")


def _long_path(ctx, size: int, *, letter: str = "d") -> str:
    """A path of exactly `size` bytes inside the condition's folder, its folders made (each name short)."""
    folder = ctx.tmpdir
    while len(os.fsencode(folder)) + 1 + 40 + 20 < size:
        folder = os.path.join(folder, "folder-" + "x" * 33)
    os.makedirs(folder, exist_ok=True)
    missing = size - len(os.fsencode(folder)) - 1 - len(".sock")
    unit = len(os.fsencode(letter))
    name = letter * (missing // unit) + "s" * (missing % unit) + ".sock"
    path = os.path.join(folder, name)
    assert len(os.fsencode(path)) == size, (len(os.fsencode(path)), size)
    return path


def _judge_too_long(ctx, student, path: str, what: str):
    outcome = _call_bind(ctx, student, path, budget=2.0)
    if outcome.raised and isinstance(outcome.error, ValueError):
        if os.path.lexists(path):
            return failed("your function raised ValueError, but something was created at the path",
                          hint="path-length", sent=what, expected="ValueError before touching the file system")
        return passed()
    return failed(f"your function {_did(outcome)}", hint="path-length", sent=what,
                  expected="ValueError: the path does not fit in sun_path")


@q1.condition("too-long", "a path too long for sun_path: ValueError")
def _(student, ctx):
    size = ctx.rng.randint(MAX_PATH_BYTES + 13, 400) if ctx.graded else 150
    path = _long_path(ctx, size)
    return _judge_too_long(ctx, student, path,
                           f"bind_unix(path) with a path of {size} bytes ({MAX_PATH_BYTES} fit)")


@q1.condition("too-long-bytes", "a path of 108 bytes or more, but fewer characters (non-ASCII)",
              graded_only=True)
def _(student, ctx):
    try:
        "é".encode(sys.getfilesystemencoding())
    except UnicodeEncodeError:
        return skipped("this Python's file system encoding cannot write 'é', so there is no path with "
                       "fewer characters than bytes to try")
    size = ctx.rng.randint(MAX_PATH_BYTES + 1, MAX_PATH_BYTES + 5)  # the shortest that do not fit
    path = _long_path(ctx, size, letter="é")
    return _judge_too_long(ctx, student, path,
                           f"bind_unix(path) with a path of {len(path)} characters but {size} bytes "
                           f"({MAX_PATH_BYTES} fit)")


@q1.condition("fits", "a path of exactly 107 bytes: it fits, so bind it")
def _(student, ctx):
    if not sys.platform.startswith("linux"):
        return skipped("sun_path holds 108 bytes on Linux only (104 on macOS and BSD), so the 107-byte limit "
                       "is checked on Linux only")
    if len(os.fsencode(ctx.tmpdir)) > MAX_PATH_BYTES - 60:
        return skipped(f"this machine's temporary folder, {ctx.tmpdir!r}, is too long to make a path of "
                       f"{MAX_PATH_BYTES} bytes in it")
    path = _long_path(ctx, MAX_PATH_BYTES)
    return _binds(ctx, student, path, budget=2.0,
                  what=f"bind_unix(path) with a path of exactly {MAX_PATH_BYTES} bytes (the longest that fits)",
                  hint=lambda outcome: "longest-fits" if outcome.raised and isinstance(outcome.error, ValueError)
                  else "bind-listen", expected="a listening socket bound to the path")


def _unix_sockets() -> dict[int, str]:
    """Our descriptors that are AF_UNIX stream sockets, each with the name it is bound to ('' if none)."""
    found = {}
    for entry in os.listdir("/proc/self/fd"):
        try:
            fd = int(entry)
            if not stat.S_ISSOCK(os.fstat(fd).st_mode):
                continue
            # A socket object made from a duplicate tells its family, and closing it leaves ours open.
            with socket.socket(fileno=os.dup(fd)) as probe:
                if probe.family == socket.AF_UNIX and probe.type == socket.SOCK_STREAM:
                    found[fd] = probe.getsockname()
        except (OSError, ValueError):
            continue  # closed meanwhile, or the directory's own descriptor
    return found


@q1.condition("bind-fails", "bind() fails (the folder does not exist): its error, and no socket left open",
              graded_only=True)
def _(student, ctx):
    if not os.path.isdir("/proc/self/fd"):
        return skipped("this system has no /proc/self/fd, where the check would look for a socket left open")
    folder = os.path.join(ctx.tmpdir, ctx.rng.choice(["gone", "missing", "not-made-yet"]))
    path = os.path.join(folder, _sock_name(ctx))
    what = f"bind_unix(<tmp>/{os.path.basename(folder)}/{os.path.basename(path)}), a folder that does not exist"
    before = set(_unix_sockets())
    outcome = _call_bind(ctx, student, path, budget=2.0)
    # While `outcome` holds the error, its traceback holds the student's frame: a socket the function
    # did not close is still open now, as it would be in a program that logs the error and goes on.
    left = {fd: name for fd, name in _unix_sockets().items() if fd not in before and not name}
    if outcome.returned:
        return failed(f"your function {_did(outcome)}, though nothing can be bound at that path",
                      hint="close-on-error", sent=what, expected="the OSError that bind() raised")
    if not (outcome.raised and isinstance(outcome.error, OSError)):
        return failed(f"your function {_did(outcome)}", hint="close-on-error", sent=what,
                      expected="the OSError that bind() raised (FileNotFoundError)")
    if left:
        return failed(f"your function raised {type(outcome.error).__name__}, but left "
                      f"{plural(len(left), 'unbound UNIX socket')} open behind it", hint="close-on-error",
                      sent=what, expected="the error, and every socket it made closed",
                      got=f"{plural(len(left), 'socket')} still open")
    return passed(f"raised {type(outcome.error).__name__}, nothing left open")


@q1.condition("busy", "a live server whose accept queue is full: EADDRINUSE at once", graded_only=True,
              budget=2.5)
def _(student, ctx):
    path = os.path.join(ctx.tmpdir, _sock_name(ctx))
    server = ctx.own(socket.socket(socket.AF_UNIX, socket.SOCK_STREAM))
    server.bind(path)
    server.listen(0)
    for _ in range(8):  # fill the queue: listen(0) holds one waiting connection on Linux
        filler = ctx.own(socket.socket(socket.AF_UNIX, socket.SOCK_STREAM))
        filler.setblocking(False)
        try:
            filler.connect(path)
        except BlockingIOError:
            break
    else:
        return skipped("this system never reported a full accept queue, so a busy server cannot be made here")
    ctx.own(_CloseOnStop(server))
    before = _file_state(path)
    what = "bind_unix(path) where a live server listens, but never accepts, and its queue is full"
    outcome = _call_bind(ctx, student, path, budget=1.5)
    after = _file_state(path)
    if outcome.kind in ("blocked", "still-running"):
        return failed(f"your function {_did(outcome)}", hint="probe-timeout", sent=what,
                      expected="OSError(EADDRINUSE) within a second")
    if after != before:
        return failed(f"{_what_happened(before, after)}, though its server was alive (only busy)",
                      hint="only-refused", sent=what, expected="OSError(EADDRINUSE), the file untouched",
                      got=_did(outcome))
    if not (outcome.raised and isinstance(outcome.error, OSError) and outcome.error.errno == errno.EADDRINUSE):
        return failed(f"your function {_did(outcome)}", hint="in-use-error", sent=what,
                      expected="OSError with errno EADDRINUSE")
    return passed()


# ====================================================================================
q2 = Question(CHAPTER, "q2", answer="dgram_server", title="A datagram server that stops on DONE, made robust",
              section="6")

q2.hint("per-client-count",
        "Keep one count per client address (a dict from the address recvfrom() gives to a number) and answer "
        "each datagram with that client's own count, as ASCII digits: b'1', b'2', ... sent back to that "
        "address with sendto() (chapter 03, section 6 'A datagram server that stops on DONE').")
q2.hint("unnamed",
        "A client that never bound a name is unnamed: recvfrom() gives None (or '') as its address, and "
        "there is nowhere to send an answer. Keep its datagram, answer nothing, go on (chapter 03, section 6, "
        "'if sender:').")
q2.hint("vanished",
        "A client may be gone by the time you answer: sendto() then raises FileNotFoundError (its file was "
        "removed) or ConnectionRefusedError (its file is there, its socket closed). Catch those two around "
        "sendto() and go on serving the others (unix(7)).")
q2.hint("big-datagram",
        "recvfrom(n) keeps at most n bytes of a datagram and throws the rest away, silently (the MSG_TRUNC "
        "flag of recvmsg() would tell you). Give recvfrom() room for the largest datagram the statement "
        "promises, 65,536 bytes (chapter 03, section 6 cuts a message with recv(6); chapter 02, section 5 "
        "'A buffer that is too small').")
q2.hint("done-bytes",
        "The socket gives bytes: compare the datagram with b'DONE', not with the string 'DONE' (which never "
        "equals bytes), and return when it comes (chapter 03, section 6).")
q2.hint("done-ends",
        "DONE is an order, not data: do not answer it, do not put it in the list, and return at once "
        "(chapter 03, section 6).")
q2.hint("exact-done",
        "Only a datagram that is exactly b'DONE' ends the server. b'NOT DONE', b'DONE!', b'done' or "
        "b'DONE\\n' are ordinary data: compare the whole datagram with ==, without searching in it, "
        "stripping it or changing its case.")
q2.hint("empty-datagram",
        "A datagram may be empty: recvfrom() then returns b''. On a datagram socket that is a message of "
        "length 0, not the end of anything: count it, answer it and keep it (chapter 02, section 5 "
        "'Datagrams keep their boundaries').")
q2.hint("return-list",
        "Return a list of every datagram received before DONE, as bytes, in the order they arrived "
        "(DONE itself not included).")

DONE = b"DONE"
#: Seconds a check's client waits for the answer to each datagram (after a first missing answer, less).
REPLY_WAIT = 1.0
#: The most seconds between sending DONE and the server returning.
DONE_LIMIT = 0.5


class _Client:
    """One datagram client of the check: named (bound to a file) or unnamed."""

    def __init__(self, ctx, name: str | None):
        self.name = name
        self.sock = ctx.own(socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM))
        if name:
            self.sock.bind(os.path.join(ctx.tmpdir, name))
        self.sock.settimeout(REPLY_WAIT)

    @property
    def label(self) -> str:
        return self.name or "an unnamed client"

    def leftovers(self) -> list[bytes]:
        """Datagrams waiting in this client's queue that nobody asked for."""
        found = []
        self.sock.setblocking(False)
        for _ in range(50):
            try:
                found.append(self.sock.recv(65536))
            except (BlockingIOError, OSError):
                break
        return found


def _words(rng, count: int) -> list[bytes]:
    words = [b"alpha", b"beta", b"gamma", b"delta", b"ping", b"hello", b"42", b"unix", b"dgram", b"x y z"]
    return [rng.choice(words) for _ in range(count)]


def _drive(server_path: str, steps: list, log: dict) -> None:
    """The clients' side: send each step's datagram and, from a named client, read the answer."""
    missing = False
    for client, payload in steps:
        # Taken before sending: a quick server may return before sendto() does.
        sending_at = time.monotonic()
        try:
            client.sock.settimeout(REPLY_WAIT)
            client.sock.sendto(payload, server_path)
        except OSError as exc:
            log["error"] = f"{client.label} could not send ({describe(exc)}): the server had stopped reading"
            return
        entry = {"client": client, "payload": payload, "reply": None}
        log["steps"].append(entry)
        if payload == DONE:
            log["done_at"] = sending_at
            return
        if client.name:
            client.sock.settimeout(0.05 if missing else REPLY_WAIT)
            try:
                entry["reply"] = client.sock.recv(65536)
            except OSError:
                missing = True


def _serve(ctx, student, steps: list, *, ghosts: list = ()):
    """Run the student's server on a fresh socket while the clients play `steps`; (outcome, log, end time)."""
    server_path = os.path.join(ctx.tmpdir, "server.sock")
    server = ctx.own(socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM))
    server.bind(server_path)
    for name, payload, unlink in ghosts:
        # Sent before the server starts, then gone: the answer cannot reach them.
        ghost_path = os.path.join(ctx.tmpdir, name)
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as ghost:
            ghost.bind(ghost_path)
            ghost.sendto(payload, server_path)
        if unlink:
            os.unlink(ghost_path)
    log = {"steps": [], "done_at": None, "error": None}
    driver = threading.Thread(target=_drive, args=(server_path, steps, log), name="homework-ch03-clients",
                              daemon=True)
    ended = {}

    def run(sock):
        value = student(sock)
        ended["at"] = time.monotonic()
        return value

    driver.start()
    outcome = ctx.call(run, server)
    driver.join(REPLY_WAIT + 1.0)
    return outcome, log, ended.get("at")


def _expected_replies(steps: list) -> list:
    counts, replies = {}, []
    for client, payload in steps:
        if payload == DONE:
            break
        if client.name:
            counts[client.name] = counts.get(client.name, 0) + 1
            replies.append(str(counts[client.name]).encode())
        else:
            replies.append(None)
    return replies


def _judge_dgram(ctx, outcome, log, ended_at, steps: list, *, ghosts=(), what: str, hint: str):
    """The verdict on one run of the student's server; `hint` is the condition's own, for its own symptom."""
    expected_list = [payload for _, payload, _ in ghosts] + [p for _, p in steps[:-1]]
    if outcome.raised:
        error = outcome.error
        has_unnamed = any(client.name is None for client, _ in steps)
        chosen = ("vanished" if isinstance(error, (FileNotFoundError, ConnectionRefusedError))
                  else "unnamed" if has_unnamed and isinstance(error, (TypeError, AttributeError, OSError))
                  else hint)
        return failed(f"your server {_did_text(outcome)}", hint=chosen, sent=what,
                      expected="it keeps serving until DONE")
    if outcome.kind in ("blocked", "still-running"):
        return failed(f"your server {outcome.text()}, though DONE had been sent", hint="done-bytes", sent=what,
                      expected="it returns when b'DONE' arrives", clients=log["error"])
    if log["done_at"] is None or ended_at < log["done_at"]:
        value = outcome.value
        kept = len(value) if isinstance(value, list) and len(value) < len(expected_list) else None
        at = (f" at datagram {kept + 1} of {len(expected_list)}, {text(expected_list[kept])}"
              if kept is not None else "")
        # What it stopped at tells the mistake: a DONE look-alike, an empty datagram, or anything else.
        stopped_at = expected_list[kept] if kept is not None else None
        chosen = ("exact-done" if isinstance(stopped_at, bytes) and DONE.lower() in stopped_at.lower()
                  else "empty-datagram" if stopped_at == b"" else hint)
        return failed(f"your server returned{at}, before DONE was sent", hint=chosen, sent=what,
                      expected="it serves until b'DONE'", got=f"returned {_show(value)}")
    for index, (entry, want) in enumerate(zip(log["steps"], _expected_replies(steps))):
        if want is not None and entry["reply"] != want:
            chosen = "empty-datagram" if entry["payload"] == b"" else "per-client-count"
            got = text(entry["reply"]) if entry["reply"] is not None else f"no answer within {REPLY_WAIT} s"
            return failed(f"datagram {index + 1}, {text(entry['payload'])} from {entry['client'].label}, "
                          f"got the wrong answer", hint=chosen, sent=what, expected=text(want), got=got)
    value = outcome.value
    if not isinstance(value, list):
        return failed(f"your server returned {_show(value)}, not a list", hint="return-list", sent=what,
                      expected=f"a list of {plural(len(expected_list), 'datagram')}")
    if value == expected_list + [DONE]:
        return failed("your server put DONE in the list it returned", hint="done-ends", sent=what,
                      expected=f"the {len(expected_list)} datagrams before DONE", got="the same, then b'DONE'")
    if value != expected_list:
        for index, (have, want) in enumerate(zip(value, expected_list)):
            if have != want:
                cut = isinstance(have, bytes) and len(have) < len(want) and want.startswith(have)
                how = f"cut short: {len(have):,} of its {len(want):,} bytes" if cut else "not the one sent"
                return failed(f"datagram {index + 1} in the list you returned is {how}",
                              hint="big-datagram" if cut else "empty-datagram" if want == b"" else "return-list",
                              sent=what, expected=text(want), got=text(have))
        missing = expected_list[len(value):]
        return failed(f"your server returned {plural(len(value), 'datagram')}; {len(expected_list)} came "
                      f"before DONE", hint="empty-datagram" if b"" in missing else "return-list", sent=what,
                      expected=plural(len(expected_list), "datagram"), got=plural(len(value), "datagram"))
    done_client = steps[-1][0]
    extra = done_client.leftovers() if done_client.name else []
    if extra:
        return failed(f"your server answered DONE (with {text(extra[0])})", hint="done-ends", sent=what,
                      expected="no answer to DONE")
    for client in {c for c, _ in steps if c.name and c is not done_client}:
        more = client.leftovers()
        if more:
            return failed(f"{client.label} got {plural(len(more), 'answer')} more than the datagrams it sent",
                          hint="per-client-count", sent=what, expected="one answer per datagram",
                          got=f"also {text(more[0])}")
    late = ended_at - log["done_at"]
    if late > DONE_LIMIT:
        return failed(f"your server returned {late:.2f} s after DONE", hint="done-ends", sent=what,
                      expected=f"within {DONE_LIMIT} s")
    return passed()


def _script(ctx, clients: list, count: int, *, extra: list = ()) -> list:
    """`count` datagrams from random named clients, `extra` (client, payload) mixed in, then DONE."""
    steps = [(ctx.rng.choice(clients), payload) for payload in _words(ctx.rng, count)]
    for item in extra:
        steps.insert(ctx.rng.randint(0, len(steps)), item)
    steps.append((ctx.rng.choice(clients), DONE))
    return steps


def _named(ctx, count: int) -> list:
    names = ["alice", "bob", "carol", "dave", "erin", "frank"]
    return [_Client(ctx, f"{name}.sock") for name in names[:count]]


@q2.condition("three-clients", "several named clients, each answered with its own count")
def _(student, ctx):
    clients = _named(ctx, ctx.rng.randint(3, 6) if ctx.graded else 3)
    steps = _script(ctx, clients, ctx.rng.randint(10, 25) if ctx.graded else 8)
    outcome, log, ended = _serve(ctx, student, steps)
    return _judge_dgram(ctx, outcome, log, ended, steps, hint="per-client-count",
                        what=f"{len(steps) - 1} datagrams from {len(clients)} named clients, then DONE")


@q2.condition("unnamed", "a client without a name: kept, not answered, no crash")
def _(student, ctx):
    clients = _named(ctx, 2)
    nobody = _Client(ctx, None)
    extra = [(nobody, payload) for payload in _words(ctx.rng, ctx.rng.randint(2, 4) if ctx.graded else 2)]
    steps = _script(ctx, clients, 4, extra=extra)
    if ctx.graded and ctx.rng.random() < 0.5:
        steps[-1] = (nobody, DONE)
    outcome, log, ended = _serve(ctx, student, steps)
    return _judge_dgram(ctx, outcome, log, ended, steps, hint="unnamed",
                        what=f"{len(steps) - 1} datagrams, {len(extra)} of them from an unnamed client, then DONE")


@q2.condition("vanished", "two clients gone before their answer: ignored, the others served")
def _(student, ctx):
    ghosts = [("ghost-removed.sock", b"I was here", True), ("ghost-closed.sock", b"me too", False)]
    if ctx.graded:
        ctx.rng.shuffle(ghosts)
    clients = _named(ctx, 2)
    steps = _script(ctx, clients, 4)
    outcome, log, ended = _serve(ctx, student, steps, ghosts=ghosts)
    return _judge_dgram(ctx, outcome, log, ended, steps, ghosts=ghosts, hint="vanished",
                        what="2 datagrams from clients that are gone (one file removed, one socket closed), "
                             "then 4 from named clients, then DONE")


#: The longest datagram the statement promises (and the `big` condition always sends one that long).
BIGGEST = 65536


@q2.condition("big", f"big datagrams, up to {BIGGEST:,} bytes, arrive whole")
def _(student, ctx):
    sizes = [ctx.rng.randint(5000, 60000) if ctx.graded else 10240, BIGGEST]
    ctx.rng.shuffle(sizes)
    clients = _named(ctx, 2)
    for client in clients:
        # Linux charges a datagram to its sender's buffer: make room for the biggest (wmem_max may cap it).
        client.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 * BIGGEST)
    pattern = bytes(ctx.rng.getrandbits(8) for _ in range(256))
    bigs = [pattern * (size // 256) + b"!" * (size % 256) for size in sizes]
    steps = _script(ctx, clients, 3, extra=[(clients[0], bigs[0]), (clients[1], bigs[1])])
    outcome, log, ended = _serve(ctx, student, steps)
    return _judge_dgram(ctx, outcome, log, ended, steps, hint="big-datagram",
                        what=f"{len(steps) - 1} datagrams, two of them {sizes[0]:,} and {sizes[1]:,} bytes long, "
                             f"then DONE")


@q2.condition("done", "DONE: not answered, not listed, and the server returns within 0.5 s")
def _(student, ctx):
    clients = _named(ctx, 2)
    steps = _script(ctx, clients, 3)
    outcome, log, ended = _serve(ctx, student, steps)
    return _judge_dgram(ctx, outcome, log, ended, steps, hint="done-ends",
                        what=f"{len(steps) - 1} datagrams, then DONE from {steps[-1][0].label}")


@q2.condition("exact-done", "datagrams that only look like DONE are data", graded_only=True)
def _(student, ctx):
    clients = _named(ctx, 2)
    # Every seed sends all of them: each one catches another way of not comparing the whole datagram
    # (in, startswith, lower/upper, strip/rstrip, lstrip/endswith, split).
    lookalikes = [b"NOT DONE", b"DONE!", b"done", b"DONE\n", b" DONE", b"DONE DONE"]
    ctx.rng.shuffle(lookalikes)
    steps = _script(ctx, clients, 2, extra=[(ctx.rng.choice(clients), p) for p in lookalikes])
    outcome, log, ended = _serve(ctx, student, steps)
    return _judge_dgram(ctx, outcome, log, ended, steps, hint="exact-done",
                        what=f"{text([p for _, p in steps[:-1]])}, then DONE")


@q2.condition("empty", "an empty datagram is a datagram", graded_only=True)
def _(student, ctx):
    clients = _named(ctx, 2)
    steps = _script(ctx, clients, 3)
    steps.insert(ctx.rng.randint(0, 2), (clients[ctx.rng.randint(0, 1)], b""))
    outcome, log, ended = _serve(ctx, student, steps)
    return _judge_dgram(ctx, outcome, log, ended, steps, hint="empty-datagram",
                        what=f"{text([p for _, p in steps[:-1]])}, then DONE")


# ====================================================================================
q3 = Question(CHAPTER, "q3", answer="receive_file", title="Receive an open file from another process",
              section="7")

q3.hint("recv-fds",
        "The descriptor travels as ancillary data (SCM_RIGHTS) attached to the first byte of the line. "
        "Read that first byte with socket.recv_fds(conn, bufsize, maxfds), or with conn.recvmsg() given room "
        "for ancillary data, never with recv() or a file from makefile(): those throw the descriptor away "
        "(chapter 03, section 7 'SCM_RIGHTS').")
q3.hint("shape",
        "Return a tuple (name, data): name the str from the JSON line, data the file's whole content as bytes.")
q3.hint("whole-line",
        "The line may come in several pieces, the descriptor with the first. Once you hold the first piece "
        "(and its descriptor), keep reading until you hold the b'\\n', then json.loads() the whole line "
        "(chapter 01, section 5, 'Framing').")
q3.hint("read-all",
        "os.read(fd, n) returns at most n bytes, and fewer when it likes. Read until it returns b'' (or use "
        "the size the line announces), then join the pieces.")
q3.hint("shared-offset",
        "A passed descriptor shares its file offset with the sender's, and the sender may have read from it "
        "already. Read from byte 0: os.pread(fd, n, offset), or os.lseek(fd, 0, os.SEEK_SET) first "
        "(chapter 03, section 7, the shared offset).")
q3.hint("close-fd",
        "A received descriptor is yours to close: os.close(fd) when you are done (a try/finally makes sure), "
        "or the file stays open in your process for as long as it runs (chapter 03, section 7).")
q3.hint("extra-fds",
        "Every descriptor that arrives is installed in your process, also the ones you did not ask for. "
        "Use the first and os.close() all of them (or ask recv_fds for at most one: the kernel then "
        "drops the rest).")
q3.hint("no-fd",
        "A line may come without a descriptor: recv_fds() then gives an empty list, and recvmsg() no "
        "SCM_RIGHTS item. Raise ValueError saying so, instead of taking the first of an empty list or "
        "waiting for a descriptor that never comes.")


def _open_descriptors(files: set) -> list[int]:
    """Our descriptors that point at one of `files` ((device, inode) pairs)."""
    folder = "/proc/self/fd" if os.path.isdir("/proc/self/fd") else "/dev/fd"
    found = []
    for entry in os.listdir(folder):
        try:
            info = os.fstat(int(entry))
        except (OSError, ValueError):
            continue  # closed meanwhile, or the directory's own descriptor
        if (info.st_dev, info.st_ino) in files:
            found.append(int(entry))
    return found


def _send_file(ctx, *, size: int, skip: int = 0, fds: int = 1, split: bool = False):
    """A child that sends a JSON line and `fds` descriptors of unlinked files; (conn, seed, files).

    `files` are the (device, inode) pairs of the files sent, in the order they were attached.
    """
    seed = ctx.rng.randrange(10 ** 6)
    folder = os.path.join(ctx.tmpdir, "files")
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(ctx.tmpdir, "handoff.sock")
    listener = ctx.own(socket.socket(socket.AF_UNIX, socket.SOCK_STREAM))
    listener.bind(path)
    listener.listen(1)
    args = ["send-file", path, folder, str(seed), str(size), "--skip", str(skip), "--fds", str(fds)]
    child = _child(ctx, *args, *(["--split"] if split else []), name="ch03-file-sender")
    conn = _accept(ctx, listener, child)
    line = child.first_line(timeout=CHILD_CONNECT)
    files = [tuple(pair) for pair in json.loads(line)["files"]]
    return conn, seed, files


def _judge_file(outcome, seed: int, size: int, *, skip: int = 0, what: str, hint_raised: str = "recv-fds"):
    name, data = ch03_peers.file_name(seed), ch03_peers.content(seed, size)
    want = f"({name!r}, {size:,} bytes)"
    if outcome.kind in ("blocked", "still-running"):
        return failed(f"your function {outcome.text()}; the line and its descriptor had arrived long before",
                      hint="recv-fds", sent=what, expected=want)
    if outcome.raised:
        chosen = "whole-line" if isinstance(outcome.error, json.JSONDecodeError) else hint_raised
        return failed(f"your function {outcome.text()}", hint=chosen, sent=what, expected=want)
    value = outcome.value
    if not (isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], str)
            and isinstance(value[1], (bytes, bytearray))):
        return failed(f"your function returned {_show(value)}, not (name, data)", hint="shape", sent=what,
                      expected=want)
    got_name, got = value[0], bytes(value[1])
    if got_name != name:
        return failed(f"the name you returned is {got_name!r}", hint="whole-line", sent=what, expected=repr(name),
                      got=repr(got_name))
    if got != data:
        if skip and got == data[skip:]:
            return failed(f"you returned the file from byte {skip:,} on: the {skip:,} bytes the sender had read "
                          f"already are missing", hint="shared-offset", sent=what, expected=f"{size:,} bytes",
                          got=f"{plural(len(got), 'byte')}, from byte {skip:,}")
        if len(got) < len(data) and data.startswith(got):
            return failed(f"you returned the first {len(got):,} of the file's {size:,} bytes", hint="read-all",
                          sent=what, expected=plural(size, "byte"), got=plural(len(got), "byte"))
        return failed("the data you returned is not the file's content", hint="shared-offset" if skip else "read-all",
                      sent=what, expected=text(data), got=text(got))
    return passed()


def _left_open(files: list) -> tuple[int, int]:
    """How many of our descriptors still point at the file, and at the extra file; all of them closed now.

    `files` lists (device, inode) of the file first, then of the extra file if
    one was sent. Closing them keeps a leak from outliving the condition: the
    kernel would otherwise hold the unlinked files for as long as it runs.
    """
    main = _open_descriptors({files[0]}) if files else []
    extra = _open_descriptors(set(files[1:]))
    for fd in main + extra:
        os.close(fd)
    return len(main), len(extra)


def _needs_fds():
    if not hasattr(socket, "recv_fds") or not hasattr(socket, "AF_UNIX"):
        return skipped("this Python has no socket.send_fds()/recv_fds(), so no descriptor can be passed here")
    return None


def _file_condition(student, ctx, *, size: int, what: str, skip: int = 0, fds: int = 1, split: bool = False,
                    judge_closed: bool = False, hint_raised: str = "recv-fds"):
    """Send a file from a child, call the student's receive_file, judge its answer and, if asked, the leaks."""
    if (verdict := _needs_fds()) is not None:
        return verdict
    conn, seed, files = _send_file(ctx, size=size, skip=skip, fds=fds, split=split)
    verdict = _judge_file(ctx.call(student, conn), seed, size, skip=skip, what=what, hint_raised=hint_raised)
    main, extra = _left_open(files)
    if verdict.passed and judge_closed and main:
        return failed(f"{plural(main, 'descriptor')} of the file you received "
                      f"{'is' if main == 1 else 'are'} still open in your process after your function returned",
                      hint="close-fd", sent=what, expected="every received descriptor closed",
                      got=f"{main + extra} still open")
    if verdict.passed and judge_closed and extra:
        return failed("the extra descriptor is still open in your process after your function returned",
                      hint="extra-fds", sent=what, expected="both descriptors closed", got=f"{extra} still open")
    if main + extra:
        ctx.note(f"{plural(main + extra, 'received descriptor')} {'was' if main + extra == 1 else 'were'} still "
                 f"open after receive_file returned; the check closed {'it' if main + extra == 1 else 'them'} "
                 f"(the condition 'closed' counts this).")
    return verdict if not (verdict.passed and judge_closed) else passed("every descriptor received is closed")


@q3.condition("one-fd", "a small file whose name is already gone, read through the descriptor")
def _(student, ctx):
    size = ctx.rng.randint(50, 4000) if ctx.graded else 200
    return _file_condition(student, ctx, size=size,
                           what=f"a JSON line and one descriptor of an unlinked {size}-byte file, from another process")


@q3.condition("closed", "the received descriptor is closed afterwards")
def _(student, ctx):
    size = ctx.rng.randint(50, 4000) if ctx.graded else 300
    return _file_condition(student, ctx, size=size, judge_closed=True,
                           what=f"one descriptor of an unlinked {size}-byte file")


@q3.condition("big", "a big file (100,000 bytes or more): read it all")
def _(student, ctx):
    size = ctx.rng.randint(100_000, 1_500_000) if ctx.graded else 300 * 1024
    return _file_condition(student, ctx, size=size, what=f"one descriptor of an unlinked file of {size:,} bytes")


@q3.condition("offset", "the sender has read part of the file already: still the whole file")
def _(student, ctx):
    size = ctx.rng.randint(500, 4000) if ctx.graded else 1000
    skip = ctx.rng.randint(50, size - 50) if ctx.graded else 400
    return _file_condition(student, ctx, size=size, skip=skip,
                           what=f"one descriptor of a {size:,}-byte file whose first {skip:,} bytes the sender "
                                f"had read")


@q3.condition("no-fd", "a line without a descriptor: ValueError")
def _(student, ctx):
    if (verdict := _needs_fds()) is not None:
        return verdict
    conn, _, _ = _send_file(ctx, size=100, fds=0)
    outcome = ctx.call(student, conn, budget=1.5)
    if outcome.raised and isinstance(outcome.error, ValueError) and not isinstance(outcome.error, json.JSONDecodeError):
        return passed()
    return failed(f"your function {_did_text(outcome)}", hint="no-fd", sent="a JSON line with no descriptor attached",
                  expected="ValueError")


@q3.condition("split", "the line arrives in two pieces, the descriptor with the first", graded_only=True)
def _(student, ctx):
    return _file_condition(student, ctx, size=ctx.rng.randint(50, 4000), split=True, hint_raised="whole-line",
                           what="a JSON line in two pieces 50 ms apart, one descriptor attached to the first")


@q3.condition("two-fds", "two descriptors where one was expected: both closed", graded_only=True)
def _(student, ctx):
    return _file_condition(student, ctx, size=ctx.rng.randint(50, 4000), fds=2, judge_closed=True,
                           what="a JSON line with two descriptors: the file, then another unlinked file")


# ====================================================================================
q4 = Question(CHAPTER, "q4", answer="authorize", title="Believe the kernel, not the client (SO_PEERCRED)",
              section="7")

q4.hint("peercred",
        "Ask the kernel who connected: conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, "
        "struct.calcsize('iII')) gives a struct ucred: pid (int), then uid and gid (unsigned), in that order; "
        "struct.unpack('iII', ...) reads it. Allow a client whose claimed pid equals that pid, and return "
        "True or False (chapter 03, section 7).")
q4.hint("trust-kernel",
        "What a client writes about itself is only a claim, and a client may lie. Compare the claimed pid "
        "with the pid SO_PEERCRED reports, and refuse (False) when they differ (chapter 03, section 7).")
q4.hint("same-uid",
        "Only clients of your own user may in: compare the uid from SO_PEERCRED with os.getuid() as well, "
        "and refuse a client of another user even when its pid is true (chapter 03, section 3 and 7).")
q4.hint("bad-claim",
        "A claim that is not a JSON object with an integer 'pid' (another text, a missing key, nothing before "
        "the end) is a refusal, not a crash: catch what json.loads() and the look-up raise, and return False.")
q4.hint("claim-timeout",
        "A client may connect and say nothing, and a recv() with no time limit waits for it for ever. Give "
        "the socket a time limit of 1 s, and take its expiry (TimeoutError, also called socket.timeout) as "
        "a refusal (chapter 01, section 6 'What goes wrong', a timeout).")
q4.hint("int-pid",
        "The pid must be a JSON integer. \"1234\" (a string) or 1234.0 (a float) is not one, even when its "
        "value is the right pid: int() turns both into 1234, and 1234.0 == 1234 is True. Look at the type of "
        "the claimed pid, not only at its value, and refuse anything but an int (a bool is not a pid either).")
q4.hint("whole-line",
        "The claim may come in pieces: keep calling recv() until you hold the b'\\n' (or b'' says the client "
        "stopped), and do not wait for more than that one line (chapter 01, section 5, 'Framing').")

#: The claims a client makes in the `garbage` condition, as the bytes it sends.
GARBAGE = [b"let me in, I am root\n", b'{"user": "root"}\n', b'{"pid": null}\n', b"[1, 2, 3]\n",
           b'{"pid": "one"}\n', b"\xff\xfe\n"]


def _needs_peercred():
    if not hasattr(socket, "SO_PEERCRED") or not sys.platform.startswith("linux"):
        return skipped("SO_PEERCRED is a Linux option (macOS has LOCAL_PEERCRED, which differs), so this "
                       "check runs on Linux only")
    return None


def _claimers(ctx, hows: list[tuple[str, str | None]]):
    """Start one child per (how, user); [(child, conn, truth)] where truth is what authorize must answer."""
    name = f"@sockcourse-hw-{os.getpid()}-{ctx.rng.randrange(10 ** 9)}-{time.monotonic_ns()}"
    listener = ctx.own(socket.socket(socket.AF_UNIX, socket.SOCK_STREAM))
    listener.bind("\0" + name[1:])  # the abstract namespace: no file, so no permission stands in the way
    listener.listen(16)
    children = []
    for how, user in hows:
        extra = ["--as-user", user] if user else []
        children.append((_child(ctx, "claim", name, how, *extra, name="ch03-claimer"), how, user))
    by_pid = {}
    for child, _, _ in children:
        conn = _accept(ctx, listener, child)
        pid = struct.unpack("iII", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                                   struct.calcsize("iII")))[0]
        by_pid[pid] = conn
    made = []
    for child, how, user in children:
        honest = how in ("honest", "pieces") or how == f"pid:{child.pid}"
        made.append((child, by_pid[child.pid], honest and user is None))
    return made


def _judge_claim(outcome, truth: bool, *, what: str, hint: str, raised_hint: str | None = None):
    want = "True" if truth else "False"
    if outcome.kind in ("blocked", "still-running"):
        return failed(f"your function {outcome.text()}", hint="claim-timeout" if hint == "claim-timeout"
                      else "whole-line", sent=what, expected=want)
    if outcome.raised:
        return failed(f"your function {outcome.text()}", hint=raised_hint or hint, sent=what, expected=want)
    if outcome.value is not truth:
        return failed(f"your function returned {_show(outcome.value)}", hint=hint, sent=what, expected=want,
                      got=_show(outcome.value))
    return passed()


def _one_claim(student, ctx, how: str, *, user: str | None = None, what: str, hint: str,
               raised_hint: str | None = None, budget: float = 1.5):
    (child, conn, truth), = _claimers(ctx, [(how, user)])
    return _judge_claim(ctx.call(student, conn, budget=budget), truth, what=what, hint=hint,
                        raised_hint=raised_hint)


@q4.condition("honest", "a child that claims its own pid: True")
def _(student, ctx):
    if (verdict := _needs_peercred()) is not None:
        return verdict
    return _one_claim(student, ctx, "honest", what="a child process of your user that claims its own pid",
                      hint="peercred")


@q4.condition("liar", "a child that claims someone else's pid: False")
def _(student, ctx):
    if (verdict := _needs_peercred()) is not None:
        return verdict
    claimed = ctx.rng.choice([os.getpid(), 1]) if ctx.graded else os.getpid()
    return _one_claim(student, ctx, f"pid:{claimed}", what=f"a child process that claims pid {claimed} "
                      f"({'yours' if claimed == os.getpid() else 'init'}), not its own", hint="trust-kernel",
                      raised_hint="peercred")


@q4.condition("other-user", "a child of another user, claiming its own pid: False")
def _(student, ctx):
    if (verdict := _needs_peercred()) is not None:
        return verdict
    if os.geteuid() != 0:
        return skipped("this check runs as an ordinary user, who cannot start a process of another user; "
                       "the course's grader runs it as root")
    import pwd
    try:
        pwd.getpwnam("nobody")
    except KeyError:
        return skipped("this machine has no user 'nobody' to run a child process as")
    return _one_claim(student, ctx, "honest", user="nobody", hint="same-uid", raised_hint="peercred",
                      what="a child process running as the user 'nobody' that claims its own (true) pid")


@q4.condition("garbage", "a claim that is not a pid: False, no crash")
def _(student, ctx):
    if (verdict := _needs_peercred()) is not None:
        return verdict
    line = ctx.rng.choice(GARBAGE) if ctx.graded else GARBAGE[0]
    return _one_claim(student, ctx, f"raw:{line.hex()}", hint="bad-claim",
                      what=f"a child that sends {text(line)} as its first line")


@q4.condition("eof", "a child that closes without a word: False")
def _(student, ctx):
    if (verdict := _needs_peercred()) is not None:
        return verdict
    return _one_claim(student, ctx, "eof", hint="bad-claim",
                      what="a child that connects, then shuts down its sending side without a line")


@q4.condition("typed-pid", "its own pid, but as a string or a float: False", graded_only=True)
def _(student, ctx):
    if (verdict := _needs_peercred()) is not None:
        return verdict
    hows = ["pid-str", "pid-float"]
    ctx.rng.shuffle(hows)
    for (child, conn, truth), how in zip(_claimers(ctx, [(how, None) for how in hows]), hows):
        said = (f'{{"pid": "{child.pid}"}}, its true pid as a string' if how == "pid-str"
                else f'{{"pid": {child.pid}.0}}, its true pid as a float')
        verdict = _judge_claim(ctx.call(student, conn, budget=1.5), truth, hint="int-pid", raised_hint="bad-claim",
                               what=f"a child of pid {child.pid} that claims {said}")
        if not verdict.passed:
            return verdict
    return passed()


@q4.condition("pieces", "the claim arrives in three pieces: still True", graded_only=True)
def _(student, ctx):
    if (verdict := _needs_peercred()) is not None:
        return verdict
    return _one_claim(student, ctx, "pieces", hint="whole-line",
                      what="a child that claims its own pid in three pieces, 40 ms apart")


@q4.condition("silent", "a child that connects and says nothing: False after about 1 s", graded_only=True,
              budget=3.0)
def _(student, ctx):
    if (verdict := _needs_peercred()) is not None:
        return verdict
    return _one_claim(student, ctx, "silent", hint="claim-timeout", budget=2.0, raised_hint="claim-timeout",
                      what="a child that connects and sends nothing for 10 s")


@q4.condition("crowd", "several children at once, some claiming each other's pids", graded_only=True,
              budget=4.0)
def _(student, ctx):
    if (verdict := _needs_peercred()) is not None:
        return verdict
    first = _claimers(ctx, [("honest", None)] * ctx.rng.randint(2, 3))
    pids = [child.pid for child, _, _ in first]
    liars = _claimers(ctx, [(f"pid:{ctx.rng.choice(pids)}", None) for _ in range(ctx.rng.randint(1, 2))])
    everyone = first + liars
    ctx.rng.shuffle(everyone)
    for number, (child, conn, truth) in enumerate(everyone, 1):
        role = "claims its own pid" if truth else "claims the pid of another child"
        verdict = _judge_claim(ctx.call(student, conn, budget=1.0), truth,
                               what=f"{len(everyone)} children connected at once; child {number} {role}",
                               hint="peercred" if truth else "trust-kernel", raised_hint="peercred")
        if not verdict.passed:
            return verdict
    return passed(f"{len(everyone)} children, {len(liars)} of them liars")


QUESTIONS = [q1, q2, q3, q4]


def summary(namespace: dict):
    """The last cell of the homework: every question checked again, one line each."""
    return _summary(QUESTIONS, namespace)
