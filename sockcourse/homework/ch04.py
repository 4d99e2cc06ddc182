"""Chapter 04 homework (many clients): one deadline, one thread for a thousand clients, an asyncio room.

q1 `LineReader(sock).readline(timeout)`: one whole line within one overall
   deadline, however the bytes trickle in; a timeout per recv() is not one.
q2 `serve_shout(listener, stop)`: section 5's shout server, with numbered
   lines, rewritten for one thread and `selectors`: a thousand clients at
   once, lines in pieces, a thread that waits only in select(), and a client
   that sends 10 MiB and never reads, which must not stall the others.
q3 `ChatRoom().handle(reader, writer)`: a chat room on asyncio streams, served
   by `serve_async`: a thousand users, a user who stops reading (to be
   dropped, never waited for), users who vanish with a reset.

Every condition uses real sockets on loopback. The check's own clients run on
the check's thread, many at a time with a selector of their own, so a
thousand of them cost no thousand threads.
"""

from __future__ import annotations

import collections
import contextlib
import errno
import hashlib
import linecache
import os
import re
import selectors
import socket
import sys
import threading
import time

try:
    import resource
except ImportError:  # Windows has no RLIMIT_NOFILE
    resource = None

from ..bench.manyclients import raise_fd_limit
from ..core.lifecycle import running
from ..core.loopthread import LoopThread, loop_thread
from ..core.sockets import abort
from ..servers.aio import serve_async
from .core import (PACKAGE_DIR, STDLIB_DIR, Question, failed, passed, plural, skipped, student_line,
                   summary as _summary, text)

CHAPTER = "04_async"

READ, WRITE = selectors.EVENT_READ, selectors.EVENT_WRITE
#: Connections the check's crowd has on their way at once (connecting, or waiting for an answer):
#: less than the listeners' accept queue, so no SYN waits for a retry.
IN_FLIGHT = 200
#: The socket buffers the check asks for where a full buffer must come quickly (the kernel doubles them).
SMALL_BUFFER = 65536
#: Descriptors the check keeps free for everything else when it opens many connections.
SPARE_FDS = 200
#: What a non-blocking connect_ex() returns while the handshake is under way (connect(2)).
_CONNECTING = {0, errno.EINPROGRESS, errno.EAGAIN, errno.EWOULDBLOCK}


# -- the check's own clients ------------------------------------------------------------------
class _Conn:
    """One of the crowd's connections: what it still has to send, and what came back."""

    __slots__ = ("sock", "index", "out", "got", "state", "error")

    def __init__(self, sock, index):
        self.sock, self.index = sock, index
        self.out, self.got = bytearray(), bytearray()
        self.state, self.error = "connecting", None


class _Crowd:
    """Many client connections driven from the check's one thread, with a selector of its own."""

    def __init__(self, ctx, address):
        self.ctx, self.address = ctx, address
        self.selector = ctx.own(selectors.DefaultSelector())
        self.conns: list[_Conn] = []

    def _start(self, index: int, first: bytes) -> _Conn:
        sock = self.ctx.own(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
        sock.setblocking(False)
        conn = _Conn(sock, index)
        conn.out += first
        code = sock.connect_ex(self.address)
        if code not in _CONNECTING:
            conn.state, conn.error = "closed", OSError(code, os.strerror(code))
        else:
            self.selector.register(sock, READ | WRITE, conn)
        self.conns.append(conn)
        return conn

    def _events(self, conn: _Conn) -> int:
        return READ | (WRITE if conn.out or conn.state == "connecting" else 0)

    def _close(self, conn: _Conn, error=None) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(conn.sock)
        conn.state, conn.error = "closed", conn.error or error

    def _handle(self, conn: _Conn, events: int) -> None:
        if conn.state == "connecting":
            if not events & WRITE:
                return
            code = conn.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if code:
                return self._close(conn, OSError(code, os.strerror(code)))
            conn.state = "open"
        try:
            if events & READ and conn.state == "open":
                data = conn.sock.recv(262144)
                if not data:
                    conn.state = "eof"
                    with contextlib.suppress(KeyError, ValueError):
                        self.selector.unregister(conn.sock)
                    return
                conn.got += data
            if conn.out and events & WRITE:
                sent = conn.sock.send(conn.out)
                del conn.out[:sent]
        except BlockingIOError:
            pass
        except OSError as exc:
            return self._close(conn, exc)
        if conn.state == "open":
            wanted = self._events(conn)
            with contextlib.suppress(KeyError, ValueError):
                if self.selector.get_key(conn.sock).events != wanted:
                    self.selector.modify(conn.sock, wanted, conn)

    def send(self, conn: _Conn, data: bytes) -> None:
        conn.out += data
        if conn.state == "open":
            with contextlib.suppress(KeyError, ValueError):
                self.selector.modify(conn.sock, self._events(conn), conn)

    def pump(self, until, deadline: float, *, each=None, give_up=None) -> bool:
        """Move bytes until `until()` holds, the deadline passes or `give_up()` holds; `each(conn)` after each event."""
        while not until():
            left = deadline - time.monotonic()
            if left <= 0 or give_up is not None and give_up():
                return False
            if not self.selector.get_map():
                time.sleep(min(left, 0.01))
                continue
            for key, events in self.selector.select(min(left, 0.05)):
                self._handle(key.data, events)
                if each is not None:
                    each(key.data)
        return True

    def open(self, count: int, first, ready, deadline: float, *, give_up=None) -> bool:
        """Open `count` connections, each sending `first(index)`, with at most IN_FLIGHT not yet `ready`."""
        waiting: set = set()
        state = {"next": 0}

        def top_up():
            while len(waiting) < IN_FLIGHT and state["next"] < count:
                conn = self._start(state["next"], first(state["next"]))
                state["next"] += 1
                if conn.state != "closed":
                    waiting.add(conn)

        def each(conn):
            if conn in waiting and (conn.state != "open" or ready(conn)):
                waiting.discard(conn)
            top_up()

        top_up()
        return self.pump(lambda: not waiting and state["next"] >= count, deadline, each=each, give_up=give_up)


def _fd_room(wanted: int) -> tuple[int, str]:
    """How many check-and-server connection pairs fit under this process's descriptor limit, and a note."""
    soft, hard = raise_fd_limit()
    if soft is None:
        return wanted, ""
    try:
        in_use = len(os.listdir("/proc/self/fd"))
    except OSError:
        in_use = 64
    needed = 2 * wanted + in_use + SPARE_FDS
    if soft < needed and resource is not None:
        # macOS refuses a soft limit as high as an unlimited hard one (kern.maxfilesperproc), which
        # raise_fd_limit() asks for; what this check needs is far less, and usually allowed.
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    room = (soft - in_use - SPARE_FDS) // 2
    if room >= wanted:
        return wanted, ""
    return max(room, 0), (f"this process may open only {soft:,} descriptors (RLIMIT_NOFILE), so the check "
                          f"used {max(room, 0):,} clients instead of {wanted:,}")


def _tcp_client(ctx, address, *, rcvbuf: int | None = None, sndbuf: int | None = None,
                timeout: float = 2.0) -> socket.socket:
    sock = ctx.own(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
    if rcvbuf:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    if sndbuf:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
    sock.settimeout(timeout)
    sock.connect(address)
    return sock


def _read_until(sock, size: int, timeout: float) -> tuple[bytes, str]:
    """Up to `size` bytes within `timeout` seconds: (bytes, "" | "eof" | "timeout" | "reset")."""
    data, deadline = bytearray(), time.monotonic() + timeout
    while len(data) < size:
        left = deadline - time.monotonic()
        if left <= 0:
            return bytes(data), "timeout"
        sock.settimeout(left)
        try:
            piece = sock.recv(min(size - len(data), 1 << 20))
        except TimeoutError:
            return bytes(data), "timeout"
        except OSError:
            return bytes(data), "reset"
        if not piece:
            return bytes(data), "eof"
        data += piece
    return bytes(data), ""


def _words(rng, count: int) -> list[str]:
    pool = ["select", "epoll", "kqueue", "socket", "buffer", "thread", "loop", "await", "drain", "queue",
            "client", "server", "ready", "bytes", "line", "stream", "event", "write", "read", "slow"]
    return [rng.choice(pool) for _ in range(count)]


class _Job:
    """A helper thread of the check's own (named homework-..., so it is never taken for the student's)."""

    def __init__(self, ctx, target, *args, name: str):
        self.done = threading.Event()
        self.box: dict = {}

        def run():
            try:
                self.box["value"] = target(*args)
            except BaseException as exc:  # noqa: BLE001 - kept for the condition to judge
                self.box["error"] = exc
            finally:
                self.done.set()

        self.thread = threading.Thread(target=run, name=f"homework-{name}", daemon=True)
        ctx.own(self)
        self.thread.start()

    def close(self) -> None:
        self.thread.join(1.0)


# ====================================================================================
q1 = Question(CHAPTER, "q1", answer="LineReader", title="Lines with one overall deadline", kind="class",
              section="1")

q1.hint("whole-line",
        "readline() returns one whole line: every byte up to and including the first b'\\n', as bytes. One "
        "recv() may bring part of a line, so keep receiving until your buffer holds a newline (chapter 01, "
        "section 5; chapter 04, section 1).")
q1.hint("keep-buffer",
        "One recv() may bring more than one line. Keep what follows the first b'\\n' in self.buffer, and look "
        "there for a whole line before you call recv() again: the next call may find its line already "
        "waiting, with nothing more to come from the peer (chapter 01, section 5, the read_line example).")
q1.hint("overall-deadline",
        "settimeout(t) limits each recv() on its own; a peer that sends one byte now and then never lets one "
        "of them run out, so a line can take for ever. Work out the deadline once, time.monotonic() + "
        "timeout, and before every recv() set the socket's timeout to the time that is left (chapter 04, "
        "section 1 'A call that waits').")
q1.hint("raise-timeout",
        "When the deadline passes, raise TimeoutError (socket.timeout is the same class). Do not return the "
        "bytes you have: the caller could not tell part of a line from a whole one (chapter 04, section 1, "
        "the discard server's timeout).")
q1.hint("eof-clean",
        "recv() returning b'' means the peer has closed. With nothing left in your buffer that is the clean "
        "end: return b'' at once, as a file's readline() does (chapter 01, section 3 'Death').")
q1.hint("eof-mid-line",
        "b'' while your buffer holds the start of a line means the line was cut short: raise "
        "ConnectionError, instead of returning the partial line or waiting for more (chapter 01, section 5).")
q1.hint("keep-on-timeout",
        "The bytes that arrived before a TimeoutError belong to the next line: keep them in self.buffer, so "
        "the next readline() finds them. Append each recv() straight to self.buffer, not to a local "
        "variable that the exception throws away (chapter 04, section 1: a timeout ends one call, not the "
        "connection).")
q1.hint("zero-timeout",
        "settimeout(0) does not mean 'no time': it makes the socket non-blocking, and recv() then raises "
        "BlockingIOError; a negative timeout raises ValueError (chapter 04, section 1, the table). Once the "
        "time left is 0 or less, raise TimeoutError yourself, without calling recv().")


def _did(outcome) -> str:
    """What the student's call did, for a report whose `where` line already says where it raised."""
    if outcome.raised:
        return f"raised {type(outcome.error).__name__}: {outcome.error}" if str(outcome.error) else \
            f"raised {type(outcome.error).__name__}"
    return outcome.text()


def _new_reader(student, ctx, sock):
    """(reader, None), or (None, a failed verdict) when the class cannot be made."""
    outcome = ctx.call(student, sock, budget=1.0)
    if outcome.returned:
        return outcome.value, None
    return None, failed(f"LineReader(sock) {_did(outcome)}", hint="whole-line",
                        expected="a LineReader holding the socket", where=outcome.where or None)


def _readline(ctx, reader, timeout, *, budget=None):
    return ctx.call(reader.readline, timeout, budget=budget if budget is not None else timeout + 1.5)


def _expect_line(outcome, want: bytes, *, what: str, timeout: float, hint: str = "whole-line"):
    """None if readline() returned `want`; otherwise the failed verdict that says how it went wrong."""
    if outcome.kind in ("blocked", "still-running"):
        return failed(f"readline({timeout}) {_did(outcome)}", hint="overall-deadline", sent=what,
                      expected=text(want))
    if outcome.raised:
        error = outcome.error
        if isinstance(error, TimeoutError):
            message = f"readline({timeout}) raised TimeoutError after {outcome.seconds:.2f} s, but the line was there"
        else:
            message = f"readline({timeout}) {_did(outcome)}"
            if isinstance(error, (BlockingIOError, ValueError)) and timeout == 0:
                hint = "zero-timeout"
        return failed(message, hint=hint, sent=what, expected=text(want), where=outcome.where or None)
    got = outcome.value
    if got != want:
        if isinstance(got, (bytes, bytearray)) and bytes(got) + b"\n" == want:
            message = f"readline({timeout}) returned the line without its b'\\n'"
        elif isinstance(got, (bytes, bytearray)) and want.startswith(bytes(got)):
            message = f"readline({timeout}) returned {len(got)} of the line's {len(want)} bytes"
        else:
            message = f"readline({timeout}) returned {text(got)}, not the line that was sent"
        return failed(message, hint=hint, sent=what, expected=text(want), got=text(got))
    return None


def _line(rng, words: int = 4) -> bytes:
    return " ".join(_words(rng, words)).encode() + b"\n"


@q1.condition("one-line", "one line, sent in one piece")
def _(student, ctx):
    line = _line(ctx.rng)
    peer, mine = ctx.pair()
    reader, bad = _new_reader(student, ctx, mine)
    if bad:
        return bad
    peer.sendall(line)
    return _expect_line(_readline(ctx, reader, 2.0), line, what=text(line), timeout=2.0) or passed()


@q1.condition("two-in-one", "two lines and the start of a third in one piece; the rest later")
def _(student, ctx):
    first, second, third = _line(ctx.rng, 2), _line(ctx.rng, 3), _line(ctx.rng, 2)
    cut = ctx.rng.randint(1, len(third) - 2)
    peer, mine = ctx.pair()
    reader, bad = _new_reader(student, ctx, mine)
    if bad:
        return bad
    peer.sendall(first + second + third[:cut])
    what = f"{text(first + second + third[:cut])} in one piece"
    for number, want in ((1, first), (2, second)):
        outcome = _readline(ctx, reader, 0.5)
        wrong = _expect_line(outcome, want, what=what + f"; readline(0.5) call {number}", timeout=0.5,
                             hint="keep-buffer")
        if wrong:
            return wrong
    peer.sendall(third[cut:])
    outcome = _readline(ctx, reader, 1.0)
    return _expect_line(outcome, third, what=what + f", then {text(third[cut:])}; call 3", timeout=1.0,
                        hint="keep-buffer") or passed()


@q1.condition("pieces", "two lines arriving one byte at a time (link chunk=1)")
def _(student, ctx):
    lines = [_line(ctx.rng, 2), _line(ctx.rng, 3)]
    peer, mine = ctx.pair(link={"chunk": 1, "gap": 0.003})
    reader, bad = _new_reader(student, ctx, mine)
    if bad:
        return bad
    peer.sendall(b"".join(lines))
    for want in lines:
        wrong = _expect_line(_readline(ctx, reader, 2.0), want, what=f"{text(b''.join(lines))}, one byte at a time",
                             timeout=2.0)
        if wrong:
            return wrong
    return passed()


class _Drip:
    """The slow peer: one byte every `interval` seconds, no newline, for `seconds`; the connection stays open."""

    def __init__(self, ctx, peer, interval: float, seconds: float):
        self.halt = threading.Event()
        self.sent = 0

        def drip():
            end = time.monotonic() + seconds
            while not self.halt.is_set() and time.monotonic() < end:
                try:
                    peer.send(b"z")
                except OSError:
                    return
                self.sent += 1
                self.halt.wait(interval)

        self.thread = threading.Thread(target=drip, name="homework-q1-drip", daemon=True)
        ctx.own(self)
        self.thread.start()

    def close(self) -> None:
        self.halt.set()
        self.thread.join(1.0)


@q1.condition("slow-drip", "a peer that sends a byte every few tenths of a second, never a newline: TimeoutError "
              "at the deadline (± 20 %)", budget=3.2)
def _(student, ctx):
    if ctx.graded:
        timeout, interval = round(ctx.rng.uniform(0.6, 1.0), 2), round(ctx.rng.uniform(0.12, 0.3), 2)
    else:
        timeout, interval = 1.0, 0.3
    peer, mine = ctx.pair()
    reader, bad = _new_reader(student, ctx, mine)
    if bad:
        return bad
    _Drip(ctx, peer, interval, timeout + 0.7)
    outcome = _readline(ctx, reader, timeout, budget=ctx.budget)
    what = f"b'z' every {interval} s, never a newline; readline({timeout})"
    expected = f"TimeoutError after {timeout * 0.8:.2f} to {timeout * 1.2:.2f} s"
    if outcome.kind in ("blocked", "still-running"):
        return failed(f"readline({timeout}) {_did(outcome)}", hint="overall-deadline", sent=what,
                      expected=expected)
    if outcome.returned:
        return failed(f"readline({timeout}) returned {text(outcome.value)} after {outcome.seconds:.2f} s instead "
                      f"of raising TimeoutError", hint="raise-timeout", sent=what, expected=expected,
                      got=text(outcome.value))
    error = outcome.error
    if not isinstance(error, TimeoutError):
        hint = "zero-timeout" if isinstance(error, (BlockingIOError, ValueError)) else "raise-timeout"
        return failed(f"readline({timeout}) {_did(outcome)} after {outcome.seconds:.2f} s", hint=hint,
                      sent=what, expected=expected, got=type(error).__name__)
    if not timeout * 0.8 <= outcome.seconds <= timeout * 1.2:
        when = "late" if outcome.seconds > timeout else "early"
        return failed(f"readline({timeout}) raised TimeoutError after {outcome.seconds:.2f} s: too {when}",
                      hint="overall-deadline", sent=what, expected=expected, got=f"{outcome.seconds:.2f} s")
    return passed(f"TimeoutError after {outcome.seconds:.2f} s (a byte every {interval} s; readline({timeout}))")


@q1.condition("eof-clean", "two lines, then the peer closes: both lines, then b''")
def _(student, ctx):
    lines = [_line(ctx.rng, 2), _line(ctx.rng, 2)]
    peer, mine = ctx.pair()
    reader, bad = _new_reader(student, ctx, mine)
    if bad:
        return bad
    peer.sendall(b"".join(lines))
    peer.shutdown(socket.SHUT_WR)
    what = f"{text(b''.join(lines))}, then the end (FIN)"
    for want in lines:
        wrong = _expect_line(_readline(ctx, reader, 1.0), want, what=what, timeout=1.0)
        if wrong:
            return wrong
    outcome = _readline(ctx, reader, 1.0)
    if outcome.returned and outcome.value == b"":
        return passed()
    return failed(f"after the two lines, readline(1.0) {_did(outcome)}", hint="eof-clean", sent=what,
                  expected="b'' (the clean end), at once", got=text(outcome.value) if outcome.returned else None,
                  where=outcome.where or None)


@q1.condition("eof-mid-line", "the peer closes in the middle of a line: ConnectionError")
def _(student, ctx):
    whole, cut = _line(ctx.rng, 2), _line(ctx.rng, 3)[:-1]
    peer, mine = ctx.pair()
    reader, bad = _new_reader(student, ctx, mine)
    if bad:
        return bad
    peer.sendall(whole + cut)
    peer.shutdown(socket.SHUT_WR)
    what = f"{text(whole + cut)}, then the end (FIN)"
    wrong = _expect_line(_readline(ctx, reader, 1.0), whole, what=what, timeout=1.0)
    if wrong:
        return wrong
    outcome = _readline(ctx, reader, 1.0)
    if outcome.raised and isinstance(outcome.error, ConnectionError):
        return passed(f"raised {type(outcome.error).__name__}")
    return failed(f"for the cut line, readline(1.0) {_did(outcome)}", hint="eof-mid-line", sent=what,
                  expected="ConnectionError (or a subclass of it)",
                  got=text(outcome.value) if outcome.returned else None, where=outcome.where or None)


@q1.condition("keeps-bytes", "the bytes that came before a TimeoutError are kept for the next call",
              graded_only=True)
def _(student, ctx):
    line = _line(ctx.rng, 3)
    cut = ctx.rng.randint(2, len(line) - 3)
    peer, mine = ctx.pair()
    reader, bad = _new_reader(student, ctx, mine)
    if bad:
        return bad
    peer.sendall(line[:cut])
    what = f"{text(line[:cut])}; readline(0.3); then {text(line[cut:])}; readline(1.0)"
    outcome = _readline(ctx, reader, 0.3)
    if not (outcome.raised and isinstance(outcome.error, TimeoutError)):
        hint = "raise-timeout" if outcome.returned else "overall-deadline"
        return failed(f"with part of a line and nothing more coming, readline(0.3) {_did(outcome)}", hint=hint,
                      sent=what, expected="TimeoutError after 0.3 s")
    peer.sendall(line[cut:])
    outcome = _readline(ctx, reader, 1.0)
    return _expect_line(outcome, line, what=what, timeout=1.0, hint="keep-on-timeout") or passed()


@q1.condition("zero-timeout", "readline(0): a line already in the buffer at once, else TimeoutError at once",
              graded_only=True)
def _(student, ctx):
    first, second, rest = _line(ctx.rng, 2), _line(ctx.rng, 2), b"no newline yet"
    peer, mine = ctx.pair()
    reader, bad = _new_reader(student, ctx, mine)
    if bad:
        return bad
    peer.sendall(first + second + rest)
    time.sleep(0.05)
    what = f"{text(first + second + rest)} in one piece; readline(1.0), then readline(0) twice"
    wrong = _expect_line(_readline(ctx, reader, 1.0), first, what=what, timeout=1.0, hint="keep-buffer")
    if wrong:
        return wrong
    wrong = _expect_line(_readline(ctx, reader, 0, budget=1.0), second, what=what, timeout=0, hint="keep-buffer")
    if wrong:
        return wrong
    outcome = _readline(ctx, reader, 0, budget=1.0)
    if outcome.raised and isinstance(outcome.error, TimeoutError) and outcome.seconds < 0.2:
        return passed()
    late = outcome.raised and isinstance(outcome.error, TimeoutError)
    return failed(f"with no whole line left, readline(0) {_did(outcome)}" + (f" after {outcome.seconds:.2f} s" if late
                  else ""), hint="zero-timeout", sent=what, expected="TimeoutError at once",
                  where=outcome.where or None)


# ====================================================================================
q2 = Question(CHAPTER, "q2", answer="serve_shout", title="A shout server on one thread with selectors",
              section="4")

q2.hint("never-wait",
        "Only select() may wait. Make every accepted socket non-blocking (conn.setblocking(False)), and call "
        "recv() only on a socket that select() reported readable: one recv() on a quiet client stops every "
        "other client (chapter 04, section 4, 'Model 3: one thread and selectors').")
q2.hint("line-buffer",
        "A line may arrive in pieces, and one recv() may bring several lines. Keep each client's incoming "
        "bytes in a buffer of its own (a dict from socket to bytes, like Model 3's `unsent`), answer every "
        "whole line in it, and keep the unfinished rest for the next recv() (section 4, Model 3).")
q2.hint("eof",
        "recv() returning b'' means the client has finished: unregister its socket from the selector and "
        "close it, or the client waits for ever for your end, and select() keeps reporting the socket "
        "readable (section 4, Model 3: 'the client closed ... close too').")
q2.hint("numbering",
        "Each connection counts its own lines: a client's first line is answered with 1, its second with 2, "
        "whatever the other clients have sent. Keep one count per client, beside its buffers, set to 0 when "
        "you accept it (the question's first rule; section 4, Model 3 keeps per-client state in dicts).")
q2.hint("format",
        "Each answer is exactly the line's number on that connection, one space, the line in capitals and "
        "b'\\n': b'hello\\n' then b'world\\n' get b'1 HELLO\\n' then b'2 WORLD\\n'. No colon, no other "
        "spacing, nothing added or taken away (the question's first rule).")
q2.hint("wait-in-select",
        "Let the selector do all the waiting: selector.select(timeout) sleeps in the kernel until a socket is "
        "ready, and costs nothing while nobody talks. A loop that sleeps (time.sleep(), Event.wait()) and then "
        "tries every socket answers late, and its cost grows with every client (section 4, Model 3; section 2 "
        "on what select() waits for).")
q2.hint("spin",
        "select() kept returning at once while nothing happened, so the loop spun and kept a CPU busy. Give "
        "select() a timeout (0.1 s, say), never 0, and register a socket for EVENT_WRITE only while you owe it "
        "bytes: a socket with room in its send buffer is writable at every moment (section 2, send() says "
        "'not now' too; section 4, Model 3).")
q2.hint("one-thread",
        "This exercise is one thread for every client: no threading.Thread, no executor. The selector does "
        "the waiting for all of them (section 4, Model 3; section 6 'Where each model breaks' shows what a "
        "thread per client costs).")
q2.hint("select-limit",
        "select.select(), and selectors.SelectSelector, cannot watch a descriptor numbered 1024 or more "
        "(FD_SETSIZE). Use selectors.DefaultSelector: epoll on Linux, kqueue on BSD and macOS, with no such "
        "limit (section 2).")
q2.hint("partial-send",
        "sendall() on a client whose buffers are full either waits (a blocking socket: the whole loop waits "
        "with it) or raises BlockingIOError (a non-blocking one). Use send(), which takes what fits now, keep "
        "the rest in that client's output buffer, and register the socket for EVENT_WRITE until the buffer "
        "is empty (section 2, send() says 'not now' too; section 4, Model 3).")
q2.hint("keep-unsent",
        "A client that is slow to read still wants every byte. Keep what send() did not take, send it when "
        "select() reports the socket writable (EVENT_WRITE), and never close a client or drop its bytes "
        "because it is slow (section 4, Model 3).")
q2.hint("backpressure",
        "While you still owe a client its answers, stop reading from it: register it for EVENT_WRITE only "
        "until its output buffer is empty, then for EVENT_READ again. Otherwise a client that sends and "
        "never reads makes your server hold everything it sends (section 4, Model 3: 'Read again only once "
        "all is echoed').")
q2.hint("stop",
        "select() must wake up now and then to look at `stop`: give it a timeout (0.1 s, say), return once "
        "stop.is_set(), and close every connection you accepted on the way out, in a finally: block "
        "(section 4, Model 3).")
q2.hint("reset",
        "A client may vanish with a reset at any moment: recv() and send() then raise ConnectionResetError "
        "or BrokenPipeError (both are OSError). Close that one client and go on serving the others "
        "(chapter 01, section 6 'What goes wrong').")

#: A line the shout server must take: lines are short in every condition but the big one.
SHOUT_LINE = 1024


class _Running:
    """The student's serve_shout(listener, stop) on a thread of the check's, with a listener of the check's."""

    def __init__(self, ctx, student, *, small: bool = False):
        self.ctx = ctx
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        ctx.own(listener)
        if small:
            # Accepted sockets inherit these, so a client that never reads fills the server's buffers quickly.
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SMALL_BUFFER)
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SMALL_BUFFER)
        listener.bind(("127.0.0.1", 0))
        listener.listen(1024)
        self.listener, self.address = listener, listener.getsockname()
        self.halt = threading.Event()
        self.error: BaseException | None = None
        self.where = ""
        self.ended: float | None = None
        self.thread = threading.Thread(target=self._run, args=(student,), name="homework-q2-server", daemon=True)
        ctx.own(self)
        self.thread.start()
        self.thread.join(0.02)  # a stub raises at once: the condition can say so without waiting

    def _run(self, student) -> None:
        try:
            student(self.listener, self.halt)
        except NotImplementedError:
            self.ctx.not_attempted = True
        except BaseException as exc:  # noqa: BLE001 - the student's error is what the condition reports
            self.error, self.where = exc, student_line(exc.__traceback__)
        finally:
            self.ended = time.monotonic()

    @property
    def alive(self) -> bool:
        return self.thread.is_alive()

    def close(self) -> None:
        self.halt.set()
        self.thread.join(1.0)
        if self.thread.is_alive():
            self.ctx.note("your serve_shout was still running 1 s after `stop` was set, so it was left running "
                          "in the background; restart the kernel if the notebook feels slow.")

    def died(self, what: str, default_hint: str):
        """A failed verdict if the student's server has ended (raised or returned) too early, else None."""
        if self.alive:
            return None
        if self.ctx.not_attempted:
            return passed()
        if self.error is None:
            return failed("serve_shout returned before `stop` was set, so nobody was served any more",
                          hint="stop", sent=what, expected="serve_shout keeps serving until stop.is_set()")
        error = self.error
        if isinstance(error, BlockingIOError):
            hint = "partial-send"
        elif isinstance(error, (ConnectionResetError, BrokenPipeError, ConnectionAbortedError)):
            hint = "reset"
        elif isinstance(error, ValueError) and "descriptor" in str(error):
            hint = "select-limit"
        else:
            hint = default_hint
        return failed(f"serve_shout stopped with {type(error).__name__}: {error}", hint=hint, sent=what,
                      expected="the server keeps serving", where=self.where or None)


def _shout_lines(rng, index: int, count: int = 2) -> bytes:
    return b"".join(f"client {index} says {' '.join(_words(rng, 2))}\n".encode() for _ in range(count))


def _answers(data: bytes) -> bytes:
    """What a correct server answers to the whole lines in `data`: each numbered from 1, in capitals."""
    lines = data.split(b"\n")[:-1]
    return b"".join(b"%d %s\n" % (number, line.upper()) for number, line in enumerate(lines, 1))


def _answer_problem(sent: bytes, got: bytes) -> tuple[str, str]:
    """What is wrong with `got`, the answers to the whole lines in `sent`: (the words for it, the hint)."""
    want = _answers(sent).split(b"\n")[:-1]
    texts = [line.split(b" ", 1)[1] for line in want]
    lines = got.split(b"\n")[:-1][:len(want)]
    if len(lines) == len(want):
        numbered = [re.fullmatch(rb"(\d+) (.*)", line, re.S) for line in lines]
        if all(numbered) and [match[2] for match in numbered] == texts:
            def first(numbers):
                return ", ".join(map(str, numbers[:3])) + (", ..." if len(numbers) > 3 else "")
            numbers = first([int(match[1]) for match in numbered])
            return f"had its lines numbered {numbers}, not {first(range(1, len(want) + 1))}", "numbering"
        # The right words around a number, in some other form: a colon, lower case, extra spaces.
        rests = [line.upper().replace(words, b"", 1) if words in line.upper() else b""
                 for line, words in zip(lines, texts)]
        if all(re.search(rb"\d", rest) for rest in rests):
            return "had answers in another form than b'N LINE\\n'", "format"
    return "got a wrong answer", "line-buffer"


def _exchange_all(run, ctx, socks, messages, *, what: str, timeout: float, hint: str = "never-wait"):
    """Send every message, then read every answer; None if all came back right, else the failed verdict."""
    for sock, message in zip(socks, messages):
        sock.sendall(message)
    deadline = time.monotonic() + timeout
    for number, (sock, message) in enumerate(zip(socks, messages), 1):
        want = _answers(message)
        got, how = _read_until(sock, len(want), max(deadline - time.monotonic(), 0.05))
        if got == want:
            continue
        died = run.died(what, hint)
        if died:
            return died
        if not want.startswith(got):
            more, _ = _read_until(sock, 4 * len(want), 0.2)  # the rest of what came, for the report
            problem, why = _answer_problem(message, got + more)
            return failed(f"client {number} of {len(socks)} {problem}", hint=why, sent=what,
                          expected=text(want), got=text(got + more))
        ending = {"timeout": f"after {timeout} s", "eof": "when the server closed the connection",
                  "reset": "when the server reset the connection"}[how]
        return failed(f"client {number} of {len(socks)} had {len(got)} of its {len(want)} answer bytes {ending}",
                      hint=hint, sent=what, expected=text(want), got=text(got) if got else "nothing")
    return None


@q2.condition("ten", "10 clients at once, after one that connects and never sends; each closed at its end")
def _(student, ctx):
    run = _Running(ctx, student)
    if ctx.not_attempted:
        return passed()
    idle = _tcp_client(ctx, run.address)
    time.sleep(0.05)
    socks = [_tcp_client(ctx, run.address) for _ in range(10)]
    messages = [_shout_lines(ctx.rng, i, 2) for i in range(10)]
    what = "one client connects and says nothing; then 10 clients each send 2 lines"
    wrong = _exchange_all(run, ctx, socks, messages, what=what, timeout=1.5)
    if wrong:
        return wrong
    for number, sock in enumerate(socks, 1):
        sock.shutdown(socket.SHUT_WR)
    for number, sock in enumerate(socks, 1):
        got, how = _read_until(sock, 1, 1.0)
        if how not in ("eof", "reset"):
            return run.died(what, "eof") or failed(
                f"client {number} closed its side, but the server's side did not close within 1 s",
                hint="eof", sent=what + "; then each client half-closes (FIN)", expected="b'' (the server closes)",
                got=text(got) if got else "nothing")
    idle.sendall(b"at last\n")
    got, how = _read_until(idle, 10, 1.0)
    if got != b"1 AT LAST\n":
        return run.died(what, "never-wait") or failed("the client that was quiet at first got no answer once it "
                                                      "spoke", hint="never-wait", sent="b'at last\\n'",
                                                      expected=text(b"1 AT LAST\n"), got=text(got))
    return passed()


@q2.condition("pieces", "lines one byte at a time (link chunk=1) beside 100 lines in one piece")
def _(student, ctx):
    run = _Running(ctx, student)
    relay = ctx.link(run.address, chunk=1, gap=0.002)
    slow = _tcp_client(ctx, relay.address)
    fast = _tcp_client(ctx, run.address)
    slow_lines = _shout_lines(ctx.rng, 1, 2)
    fast_lines = _shout_lines(ctx.rng, 2, 100)
    what = f"client 1 sends {text(slow_lines)} one byte at a time; client 2 sends 100 lines in one piece"
    wrong = _exchange_all(run, ctx, [slow, fast], [slow_lines, fast_lines], what=what, timeout=2.5,
                          hint="line-buffer")
    return wrong or passed()


@q2.condition("one-thread", "20 clients served by one thread: no thread is started")
def _(student, ctx):
    before = set(threading.enumerate())
    run = _Running(ctx, student)
    socks = [_tcp_client(ctx, run.address) for _ in range(20)]
    messages = [_shout_lines(ctx.rng, i, 1) for i in range(20)]
    what = "20 clients connect, each sends a line"
    wrong = _exchange_all(run, ctx, socks, messages, what=what, timeout=1.5)
    new = [t for t in threading.enumerate() if t not in before and not t.name.startswith("homework-")]
    if new:
        names = sorted(t.name for t in new)
        shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
        return failed(f"serve_shout started {plural(len(new), 'thread')} while it served 20 clients",
                      hint="one-thread", sent=what, expected="no new thread", got=shown)
    return wrong or passed()


#: Quiet clients the `idle` condition keeps connected while it looks where serve_shout waits.
IDLE_CLIENTS = 200
#: How many times it looks, how far apart, and at how many looks it may be found elsewhere.
IDLE_LOOKS, IDLE_EVERY, IDLE_ELSEWHERE = 25, 0.02, 5
#: The share of one CPU an idle server may use: select(timeout=0.001) costs under 10 %, a spin 70 % or more.
IDLE_CPU = 0.3
#: A line of the student's own that waits for sockets without a selector: select.select(), poll(), kqueue's control().
_SELECT_CALL = re.compile(r"\b(select|poll|control)\s*\(")


def _cpu_clock(thread):
    """A function giving `thread`'s CPU seconds so far (None once it cannot tell), or None on this platform."""
    getclock = getattr(time, "pthread_getcpuclockid", None)  # not on macOS nor Windows
    if getclock is None or not thread.is_alive():
        return None
    try:
        clock = getclock(thread.ident)
        time.clock_gettime(clock)
    except (OSError, ValueError, OverflowError):
        return None

    def now():
        try:
            return time.clock_gettime(clock)
        except OSError:  # the thread has ended
            return None
    return now


def _not_in_select(thread) -> str:
    """'' if `thread` waits in a selector's select() now (or a select/poll call of its own), else where it is."""
    frame = sys._current_frames().get(thread.ident)
    # By module name, not file: a relocated Python may have compiled its library under another path.
    if frame is None or frame.f_globals.get("__name__") == "selectors":
        return ""
    code = linecache.getline(frame.f_code.co_filename, frame.f_lineno, frame.f_globals).strip()
    if _SELECT_CALL.search(code):
        return ""
    # Name the student's own line: the innermost frame may be inside Python's library (Event.wait, say).
    while frame is not None:
        name = frame.f_code.co_filename
        if not (name.startswith(PACKAGE_DIR) or name.startswith(STDLIB_DIR) or "site-packages" in name):
            code = linecache.getline(name, frame.f_lineno, frame.f_globals).strip()
            return f"line {frame.f_lineno} of {frame.f_code.co_name}: {code}" if code else \
                f"line {frame.f_lineno} of {frame.f_code.co_name}"
        frame = frame.f_back
    return "somewhere outside a selector's select()"


@q2.condition("idle", f"{IDLE_CLIENTS} quiet clients: serve_shout waits in selector.select(), and no CPU is kept busy")
def _(student, ctx):
    count, note = _fd_room(IDLE_CLIENTS)
    if count < 20:
        return skipped(f"this machine lets a process open too few descriptors for this check ({note})")
    if note:
        ctx.note(note)
    run = _Running(ctx, student)
    if ctx.not_attempted:
        return passed()
    socks = [_tcp_client(ctx, run.address) for _ in range(count)]
    messages = [_shout_lines(ctx.rng, i, 1) for i in range(count)]
    quiet = IDLE_LOOKS * IDLE_EVERY
    what = f"{count} clients connect and each sends a line; then all of them stay quiet for {quiet:.1f} s"
    wrong = _exchange_all(run, ctx, socks, messages, what=what, timeout=2.0)
    if wrong:
        return wrong
    time.sleep(0.1)
    clock = _cpu_clock(run.thread)
    began, cpu_began = time.monotonic(), clock() if clock else None
    elsewhere = []
    for _ in range(IDLE_LOOKS):
        time.sleep(IDLE_EVERY)
        where = _not_in_select(run.thread)
        if where:
            elsewhere.append(where)
    cpu_ended = clock() if clock else None
    share = (cpu_ended - cpu_began) / (time.monotonic() - began) if cpu_began is not None and \
        cpu_ended is not None else None
    died = run.died(what, "wait-in-select")
    if died:
        return died
    if len(elsewhere) > IDLE_ELSEWHERE:
        where, seen = collections.Counter(elsewhere).most_common(1)[0]
        return failed(f"while its clients were quiet, serve_shout was waiting in a selector's select() at only "
                      f"{IDLE_LOOKS - len(elsewhere)} of {IDLE_LOOKS} looks", hint="wait-in-select", sent=what,
                      expected="waiting in selector.select() nearly every time the check looks",
                      got=f"at {where} ({seen} of {IDLE_LOOKS} looks)")
    if share is not None and share > IDLE_CPU:
        return failed(f"while its clients were quiet, serve_shout kept {share:.0%} of a CPU busy",
                      hint="spin", sent=what, expected="next to no CPU: select() sleeps until a "
                      "socket is ready", got=f"{share:.0%} of a CPU")
    return passed("waiting in select()" + (f", {share:.0%} of a CPU" if share is not None else ""))


@q2.condition("thousand", "1,000 clients connected at once, every line answered within 5 s", budget=8.0)
def _(student, ctx):
    count, note = _fd_room(1000)
    if count < 100:
        return skipped(f"this machine lets a process open too few descriptors for the many-client check ({note})")
    if note:
        ctx.note(note)
    run = _Running(ctx, student)
    crowd = _Crowd(ctx, run.address)
    messages = {i: f"client {i:04d} shouts {ctx.rng.choice(['hi', 'hello', 'hey'])}\n".encode() for i in range(count)}
    wanted = {i: _answers(message) for i, message in messages.items()}
    started = time.monotonic()
    crowd.open(count, lambda i: messages[i], lambda conn: len(conn.got) >= len(wanted[conn.index]), started + 5.0,
               give_up=lambda: not run.alive)
    seconds = time.monotonic() - started
    what = f"{count:,} clients connect (at most {IN_FLIGHT} on their way at once) and stay; each sends one line"
    right = [c for c in crowd.conns if bytes(c.got) == wanted[c.index]]
    if len(right) == count:
        return passed(f"{count:,} answered in {seconds:.2f} s")
    died = run.died(what, "select-limit")
    if died:
        return died
    bad = next(c for c in crowd.conns if bytes(c.got) != wanted[c.index])
    if bad.got.endswith(b"\n") and not wanted[bad.index].startswith(bytes(bad.got)):
        problem, why = _answer_problem(messages[bad.index], bytes(bad.got))
        return failed(f"{len(right):,} of {count:,} clients had the right answer; client {bad.index} {problem}",
                      hint=why, sent=what, expected=text(wanted[bad.index]), got=text(bytes(bad.got)))
    return failed(f"{len(right):,} of {count:,} clients had their answer within 5 s", hint="select-limit",
                  sent=what, expected=f"client {bad.index}: {text(wanted[bad.index])}",
                  got=f"client {bad.index}: {text(bytes(bad.got))}" + (f" ({bad.error})" if bad.error else ""))


def _hog_lines(rng, size: int) -> bytes:
    patterns = [bytes(rng.choice(b"abcdefghijklmnopqrstuvwxyz") for _ in range(SHOUT_LINE - 1)) + b"\n"
                for _ in range(16)]
    count = size // SHOUT_LINE
    return b"".join(patterns[i % len(patterns)] for i in range(count))


class _Hog:
    """A client that sends `data` as fast as the server lets it and reads nothing (until asked)."""

    def __init__(self, ctx, address, data: bytes, seconds: float):
        self.sock = _tcp_client(ctx, address, rcvbuf=SMALL_BUFFER, sndbuf=SMALL_BUFFER)
        self.sock.setblocking(False)
        self.data, self.sent, self.error = data, 0, None
        self.finished = threading.Event()
        self.halt = threading.Event()
        self.job = _Job(ctx, self._push, seconds, name="q2-hog")
        ctx.own(self)  # closed before the job is joined: the push ends at once

    def close(self) -> None:
        self.halt.set()

    def _push(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        view = memoryview(self.data)
        try:
            with selectors.DefaultSelector() as selector:
                selector.register(self.sock, WRITE)
                while self.sent < len(self.data) and not self.halt.is_set() and time.monotonic() < end:
                    if not selector.select(0.05):
                        continue
                    try:
                        self.sent += self.sock.send(view[self.sent:self.sent + 262144])
                    except BlockingIOError:
                        pass
        except OSError as exc:
            self.error = exc
        finally:
            view.release()
            self.finished.set()

    def wait_for(self, size: int, seconds: float) -> None:
        end = time.monotonic() + seconds
        while self.sent < size and not self.finished.is_set() and time.monotonic() < end:
            time.sleep(0.01)


@q2.condition("slow-reader", "a client sends about 10 MiB and does not read: the others are still answered "
              "within 1 s, and it gets every answer once it reads", budget=7.0)
def _(student, ctx):
    size = (ctx.rng.randint(8, 12) if ctx.graded else 10) << 20
    run = _Running(ctx, student, small=True)
    data = _hog_lines(ctx.rng, size)
    hog = _Hog(ctx, run.address, data, seconds=5.0)
    hog.wait_for(1 << 20, 0.5)
    time.sleep(0.1)  # by now the server's way back to the hog is full
    what = (f"one client sends {len(data) >> 20} MiB of 1 KiB lines and reads nothing; then 10 other clients "
            f"each send a line")
    socks = [_tcp_client(ctx, run.address) for _ in range(10)]
    messages = [_shout_lines(ctx.rng, i, 1) for i in range(10)]
    wrong = _exchange_all(run, ctx, socks, messages, what=what, timeout=1.0, hint="partial-send")
    if wrong:
        return wrong
    # Now the hog reads, while it sends the rest: every answer must come, in order.
    answers = _answers(data)
    want = hashlib.sha256(answers).hexdigest()
    hasher, got, how = hashlib.sha256(), 0, ""
    deadline = time.monotonic() + 4.0
    head = b""
    while got < len(answers):
        left = deadline - time.monotonic()
        if left <= 0:
            how = "deadline"
            break
        hog.sock.settimeout(min(left, 1.0))
        try:
            piece = hog.sock.recv(1 << 20)
        except TimeoutError:
            how = "timeout"  # a whole second with nothing more: the rest is not coming
            break
        except OSError:
            how = "reset"
            break
        if not piece:
            how = "eof"
            break
        if len(head) < 60:
            head += piece[:60]
        hasher.update(piece)
        got += len(piece)
    sent_what = what + f"; then the first client reads everything"
    if got == len(answers) and hasher.hexdigest() == want:
        return passed()
    died = run.died(sent_what, "keep-unsent")
    if died:
        return died
    if how in ("eof", "reset"):
        return failed(f"the slow client's connection ended ({'closed' if how == 'eof' else 'reset'}) after "
                      f"{got:,} of {len(answers):,} answer bytes", hint="keep-unsent", sent=sent_what,
                      expected=f"{len(answers):,} bytes, its lines numbered and in capitals",
                      got=f"{got:,} bytes, then the end")
    if how in ("timeout", "deadline"):
        how = "and nothing more came for a whole second" if how == "timeout" else "after 4 s, still coming"
        return failed(f"the slow client had {got:,} of {len(answers):,} answer bytes, {how}",
                      hint="keep-unsent", sent=sent_what, expected=f"{len(answers):,} bytes within 4 s",
                      got=f"{got:,} bytes (for the {hog.sent:,} bytes it had sent)")
    return failed("the slow client's answers are not its lines, numbered and in capitals, in order",
                  hint="keep-unsent",
                  sent=sent_what, expected=text(answers[:40]), got=text(head[:40]))


@q2.condition("stop", "`stop` is set: serve_shout returns within 1 s and closes the connections it holds")
def _(student, ctx):
    run = _Running(ctx, student)
    socks = [_tcp_client(ctx, run.address) for _ in range(3)]
    messages = [_shout_lines(ctx.rng, i, 1) for i in range(3)]
    what = "3 clients connect and are answered; then stop.set()"
    wrong = _exchange_all(run, ctx, socks, messages, what=what, timeout=1.0)
    if wrong:
        return wrong
    time.sleep(0.2)  # the server is idle now, waiting in select(): stop must reach it there
    run.halt.set()
    set_at = time.monotonic()
    run.thread.join(1.0)
    if run.alive:
        return failed("serve_shout was still running 1 s after stop was set", hint="stop", sent=what,
                      expected="serve_shout returns within 1 s")
    if run.error is not None:
        return failed(f"after stop was set, serve_shout raised {type(run.error).__name__}: {run.error}",
                      hint="stop", sent=what, expected="serve_shout returns", where=run.where or None)
    for number, sock in enumerate(socks, 1):
        got, how = _read_until(sock, 1, 0.5)
        if how not in ("eof", "reset"):
            return failed(f"serve_shout returned after {run.ended - set_at:.2f} s, but client {number}'s "
                          f"connection was still open", hint="stop", sent=what,
                          expected="every client sees the end (b'')", got=text(got) if got else "nothing")
    return passed(f"returned {run.ended - set_at:.2f} s after stop was set")


#: What the `backpressure` condition lets the server take from a client that never reads: the 1 MiB the
#: question lets it owe, and what the kernel holds on the way (about 0.5 MiB with 64 KiB buffers).
TAKE_LIMIT = 2 << 20


@q2.condition("backpressure", "a client that sends and never reads: the server stops taking its lines once it owes "
              "1 MiB (at most 2 MiB taken, the kernel's buffers included)", graded_only=True, budget=4.0)
def _(student, ctx):
    run = _Running(ctx, student, small=True)
    data = _hog_lines(ctx.rng, 16 << 20)
    hog = _Hog(ctx, run.address, data, seconds=1.0)
    hog.finished.wait(2.0)
    hog.halt.set()
    what = "one client sends up to 16 MiB of 1 KiB lines for 1 s and reads nothing (64 KiB socket buffers)"
    died = run.died(what, "backpressure")
    if died:
        return died
    # The kernel holds about 0.5 MiB (four buffers of 128 KiB); the server may owe 1 MiB of its own.
    if hog.sent > TAKE_LIMIT:
        return failed(f"the server took {hog.sent / (1 << 20):.2f} MiB from a client that read none of its "
                      f"answers", hint="backpressure", sent=what,
                      expected="at most 2 MiB taken: the 1 MiB of answers it may owe, and about 0.5 MiB that the "
                      "kernel's socket buffers hold", got=f"{hog.sent:,} bytes")
    return passed(f"took {hog.sent / (1 << 20):.2f} MiB, then stopped reading")


@q2.condition("reset", "clients that reset in the middle of their answers; the others are still served",
              graded_only=True)
def _(student, ctx):
    run = _Running(ctx, student, small=True)
    count = ctx.rng.randint(3, 6)
    resetters = [_tcp_client(ctx, run.address, rcvbuf=SMALL_BUFFER) for _ in range(count)]
    for sock in resetters:
        sock.settimeout(0.05)
        with contextlib.suppress(OSError):
            sock.sendall(_hog_lines(ctx.rng, 512 << 10))
    time.sleep(0.1)
    for sock in resetters:
        abort(sock)
    time.sleep(0.1)
    what = f"{count} clients each send 512 KiB, read nothing and reset (RST); then 5 other clients send a line"
    socks = [_tcp_client(ctx, run.address) for _ in range(5)]
    messages = [_shout_lines(ctx.rng, i, 1) for i in range(5)]
    return _exchange_all(run, ctx, socks, messages, what=what, timeout=1.0, hint="reset") or passed()


# ====================================================================================
q3 = Question(CHAPTER, "q3", answer="ChatRoom", title="A chat room on asyncio streams", kind="class",
              section="5")

q3.hint("protocol",
        "Each reply is one line ending in b'\\n': 'HELLO name' for a login, 'SEND-OK' to the sender, "
        "'DELIVERY sender message' to every other user (never to the sender), 'LIST-OK ' and the names "
        "joined by commas for LIST (the table in the question).")
q3.hint("in-use",
        "The room is shared by every connection: keep the users in self.users, name to writer. A login "
        "with a name already there gets 'IN-USE', and then that connection ends (return from handle); "
        "the user who has the name keeps it (section 5: one handler call per connection, one room for all).")
q3.hint("refused-owner",
        "A connection refused with IN-USE never joined the room, so its end must not remove anyone. When a "
        "connection ends, remove a name only if this connection logged in with it, that is, only if the "
        "room's entry for the name is this connection's own writer; otherwise the refused login throws out "
        "the user who has the name (section 5: one handler call per connection, one room for all).")
q3.hint("lines",
        "await reader.read(n) returns whatever has arrived: part of a line, or several lines. Read with "
        "await reader.readline() (b'' at the end) and answer each line on its own (chapter 04, section 5, "
        "the shout server).")
q3.hint("cleanup",
        "A user leaves when its connection ends in any way: the clean end (readline() returns b'') and a "
        "reset (readline() raises ConnectionResetError) alike. Remove it in a finally: block around the "
        "loop, so that an exception removes it too (chapter 01, section 6 'What goes wrong').")
q3.hint("blocking-call",
        "Nothing in a coroutine may block: time.sleep(), a blocking socket call or a long loop without an "
        "await stops the event loop, and every client with it (chapter 04, section 6 'Where each model "
        "breaks': asyncio shares the rule that nothing may block the loop).")
q3.hint("drain-in-turn",
        "await writer.drain() for a user who does not read waits for ever, and while the sender's handler "
        "waits there, nobody after that user gets the message. Write to every recipient with write() and "
        "do not await their drain(); await only your own writer's (section 4, Model 4).")
q3.hint("slow-deliveries",
        "The messages came, but slowly: something holds up the handler on every SEND. Either it blocks the "
        "event loop (time.sleep(), a blocking call: use await asyncio.sleep() if you must wait), or it awaits "
        "something for each message, such as another user's drain(). Write to every recipient with write() "
        "and await only your own writer's drain() (section 4, Model 4; section 6 'Where each model breaks').")
q3.hint("drop-slow",
        "A user who does not read makes its unsent bytes pile up in your server. Before each write look at "
        "writer.transport.get_write_buffer_size() (or your own queue), and once more than 1 MiB waits for one "
        "user, end it at once with writer.transport.abort() and remove it from the room. writer.close() is "
        "not enough: it first sends everything that waits, and a user who never reads never lets it finish "
        "(chapter 04, section 2: a peer that never reads fills the buffers).")

#: The most a correct room keeps waiting for one user before it drops that user.
ROOM_LIMIT = 1 << 20
#: Messages the check's sender may be ahead of its fast readers (about 256 KB: well under ROOM_LIMIT).
WINDOW = 256


def _shared_loop_running() -> bool:
    return any(isinstance(thing, LoopThread) and thing.shared and thing.running for thing in running())


def _room(student, ctx, *, small: bool = False, backlog: int = 128, trace: bool = True):
    """A fresh ChatRoom, served by serve_async; (server, None) or (None, a failed verdict)."""
    outcome = ctx.call(student, budget=1.0)
    if not outcome.returned:
        return None, failed(f"ChatRoom() {_did(outcome)}", hint="protocol", expected="a new, empty room",
                            where=outcome.where or None)
    room = outcome.value
    handle = getattr(room, "handle", None)
    if handle is None or not callable(handle):
        return None, failed("a ChatRoom has no method handle(reader, writer)", hint="protocol",
                            expected="async def handle(self, reader, writer)", got=text(room))
    if not _shared_loop_running():
        # The check started the shared loop, so the check stops it: the student's kernel is left as it was.
        ctx.own(loop_thread())

    def setup(sock):
        if small:  # inherited by each connection: a user who does not read fills its buffer quickly
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SMALL_BUFFER)

    try:
        server = serve_async(ctx.wrap(handle), backlog=backlog, idle_timeout=None, setup=setup, trace=trace)
    except Exception as exc:  # noqa: BLE001 - serve_async refuses a handle that is not async, in a sentence
        return None, failed(f"serve_async(room.handle) refused it: {exc}", hint="protocol",
                            expected="async def handle(self, reader, writer)")
    # Adopted, so a replay shows the chat server's trace beside the link's record.
    return (ctx.adopt(server) if trace else ctx.own(server)), None


class _User:
    """One chat client of the check's: a blocking socket and a buffer of what came back."""

    def __init__(self, ctx, address, *, rcvbuf: int | None = None):
        self.sock = _tcp_client(ctx, address, rcvbuf=rcvbuf)
        self.buffer = b""
        self.name = ""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def line(self, timeout: float = 1.0) -> bytes | None:
        """The next line without its b'\\n'; None if none came in time, b'' at the end (or a reset)."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                piece = self.sock.recv(65536)
            except TimeoutError:
                return None
            except OSError:
                piece = b""
            if not piece:
                return b"" if not self.buffer else None
            self.buffer += piece
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line

    def login(self, name: str, timeout: float = 1.0) -> bytes | None:
        self.name = name
        self.send(f"HELLO-FROM {name}\n".encode())
        return self.line(timeout)


def _said(line) -> str:
    return "nothing within the time limit" if line is None else "the end of the connection" if line == b"" \
        else text(line + b"\n")


def _names(line) -> set | None:
    if not line or not line.startswith(b"LIST-OK"):
        return None
    body = line[len(b"LIST-OK"):].strip()
    return {name for name in body.decode(errors="replace").split(",") if name} if body else set()


def _login_all(ctx, users, names, *, what: str):
    for user, name in zip(users, names):
        reply = user.login(name)
        if reply != f"HELLO {name}".encode():
            if ctx.not_attempted:
                return passed()
            return failed(f"the login of {name!r} got {_said(reply)}", hint="lines" if reply is None else "protocol",
                          sent=what + f"; HELLO-FROM {name}", expected=f"b'HELLO {name}\\n'", got=_said(reply))
    return None


def _list_until(user, want: set, seconds: float = 1.0):
    """Ask LIST until it names exactly `want` or time runs out; the last LIST-OK's names (or None)."""
    deadline, names = time.monotonic() + seconds, None
    while True:
        user.send(b"LIST\n")
        reply = user.line(max(deadline - time.monotonic(), 0.2))
        names = _names(reply)
        if names == want or time.monotonic() >= deadline or names is None:
            return names, reply
        time.sleep(0.05)


def _pick_names(rng, count: int) -> list[str]:
    pool = ["ada", "alan", "barbara", "dennis", "edsger", "frances", "grace", "ken", "linus", "margaret",
            "radia", "vint", "bjarne", "guido", "katherine", "donald"]
    picked = rng.sample(pool, count)
    return [f"{name}{rng.randint(1, 99)}" for name in picked]


@q3.condition("login", "three users log in; one SEND reaches the two others; LIST names all three")
def _(student, ctx):
    server, bad = _room(student, ctx)
    if bad:
        return bad
    names = _pick_names(ctx.rng, 3)
    users = [_User(ctx, server.address) for _ in names]
    what = f"{', '.join(names)} log in"
    wrong = _login_all(ctx, users, names, what=what)
    if wrong:
        return wrong
    message = " ".join(_words(ctx.rng, 3))
    users[0].send(f"SEND {message}\n".encode())
    what += f"; {names[0]} sends 'SEND {message}'"
    reply = users[0].line()
    if reply != b"SEND-OK":
        return failed(f"{names[0]} got {_said(reply)} after its SEND", hint="protocol", sent=what,
                      expected="b'SEND-OK\\n'", got=_said(reply))
    want = f"DELIVERY {names[0]} {message}".encode()
    for user in users[1:]:
        got = user.line()
        if got != want:
            return failed(f"{user.name} got {_said(got)}", hint="protocol", sent=what, expected=text(want + b"\n"),
                          got=_said(got))
    users[0].send(b"LIST\n")
    reply = users[0].line()
    if _names(reply) != set(names):
        return failed(f"{names[0]}'s LIST got {_said(reply)}", hint="protocol", sent=what + "; then LIST",
                      expected=f"LIST-OK with {', '.join(sorted(names))} (any order)", got=_said(reply))
    return passed()


@q3.condition("in-use", "a login with a name in use gets IN-USE and the end; the first user keeps the name")
def _(student, ctx):
    server, bad = _room(student, ctx)
    if bad:
        return bad
    name, other = _pick_names(ctx.rng, 2)
    first, second, third = (_User(ctx, server.address) for _ in range(3))
    what = f"{name} logs in; a second client logs in as {name} too"
    wrong = _login_all(ctx, [first], [name], what=what)
    if wrong:
        return wrong
    reply = second.login(name)
    if reply != b"IN-USE":
        return failed(f"the second login as {name!r} got {_said(reply)}", hint="in-use", sent=what,
                      expected="b'IN-USE\\n', then the end", got=_said(reply))
    end = second.line(1.0)
    if end != b"":
        return failed(f"after IN-USE, the second client's connection stayed open (it got {_said(end)})",
                      hint="in-use", sent=what, expected="the end of the connection", got=_said(end))
    wrong = _login_all(ctx, [third], [other], what=what + f"; {other} logs in")
    if wrong:
        return wrong
    third.send(b"SEND still here?\n")
    third.line()
    got = first.line()
    want = f"DELIVERY {other} still here?".encode()
    what += f"; {other} logs in and sends 'SEND still here?'"
    if got != want:
        third.send(b"LIST\n")
        listed = _names(third.line())
        if listed is not None and name not in listed:
            return failed(f"after the refused login ended, {name} was no longer in the room: LIST names "
                          f"{', '.join(sorted(listed)) or 'nobody'}", hint="refused-owner",
                          sent=what + f"; then {other} asks LIST",
                          expected=f"{name} still in the room, and {_said(want)} for it",
                          got=f"{name} got {_said(got)}")
        return failed(f"after the refused login, {name} got {_said(got)}", hint="in-use", sent=what,
                      expected=text(want + b"\n"), got=_said(got))
    return passed()


@q3.condition("pipelined", "HELLO-FROM, LIST and SEND in one piece")
def _(student, ctx):
    server, bad = _room(student, ctx)
    if bad:
        return bad
    ann, bob = _pick_names(ctx.rng, 2)
    first, second = _User(ctx, server.address), _User(ctx, server.address)
    wrong = _login_all(ctx, [first], [ann], what=f"{ann} logs in")
    if wrong:
        return wrong
    message = " ".join(_words(ctx.rng, 2))
    blob = f"HELLO-FROM {bob}\nLIST\nSEND {message}\n".encode()
    second.send(blob)
    what = f"{ann} logs in; then another client sends {text(blob)} in one piece"
    replies = [second.line() for _ in range(3)]
    if ctx.not_attempted:
        return passed()
    kinds_right = replies[0] == f"HELLO {bob}".encode() and replies[1] is not None and \
        replies[1].startswith(b"LIST-OK") and replies[2] == b"SEND-OK"
    if kinds_right and _names(replies[1]) != {ann, bob}:
        return failed(f"the LIST in the piece got {_said(replies[1])}", hint="protocol", sent=what,
                      expected=f"LIST-OK with {ann} and {bob} (any order), joined by commas",
                      got=_said(replies[1]))
    if not kinds_right:
        return failed(f"the replies were {', '.join(_said(r) for r in replies)}", hint="lines", sent=what,
                      expected=f"HELLO {bob}, LIST-OK with {ann} and {bob}, SEND-OK",
                      got=" | ".join(_said(r) for r in replies))
    want = f"DELIVERY {bob} {message}".encode()
    got = first.line()
    if got != want:
        return failed(f"{ann} got {_said(got)}", hint="lines", sent=what, expected=text(want + b"\n"), got=_said(got))
    return passed()


@q3.condition("disconnect", "a user that resets and one that closes both leave the room, and the name is free")
def _(student, ctx):
    server, bad = _room(student, ctx)
    if bad:
        return bad
    names = _pick_names(ctx.rng, 3)
    users = [_User(ctx, server.address) for _ in names]
    wrong = _login_all(ctx, users, names, what=f"{', '.join(names)} log in")
    if wrong:
        return wrong
    users[1].sock.shutdown(socket.SHUT_WR)
    abort(users[2].sock)
    what = f"{', '.join(names)} log in; {names[1]} closes, {names[2]} resets (RST); {names[0]} asks LIST"
    listed, reply = _list_until(users[0], {names[0]})
    if listed != {names[0]}:
        if listed is None:
            return failed(f"{names[0]}'s LIST got {_said(reply)}", hint="protocol", sent=what,
                          expected=f"b'LIST-OK {names[0]}\\n'", got=_said(reply))
        return failed(f"1 s after they left, LIST still names {', '.join(sorted(listed - {names[0]}))}",
                      hint="cleanup", sent=what, expected=f"LIST-OK {names[0]}", got=_said(reply))
    again = _User(ctx, server.address)
    wrong = _login_all(ctx, [again], [names[2]], what=what + f"; a new client logs in as {names[2]}")
    if wrong and wrong.passed is False:
        return failed(f"after {names[2]} left, " + wrong.message, hint="cleanup", **wrong.evidence)
    return wrong or passed()


@q3.condition("thousand", "1,000 users; one SEND reaches the 999 others within 3 s", budget=10.0)
def _(student, ctx):
    count, note = _fd_room(1000)
    if count < 100:
        return skipped(f"this machine lets a process open too few descriptors for the many-client check ({note})")
    if note:
        ctx.note(note)
    server, bad = _room(student, ctx, backlog=1024, trace=False)
    if bad:
        return bad
    crowd = _Crowd(ctx, server.address)
    names = [f"user{i:04d}" for i in range(count)]
    started = time.monotonic()
    crowd.open(count, lambda i: f"HELLO-FROM {names[i]}\n".encode(), lambda conn: b"\n" in conn.got,
               started + 5.0, give_up=lambda: ctx.not_attempted)
    what = f"{count:,} users log in (at most {IN_FLIGHT} on their way at once) and stay"
    if ctx.not_attempted:
        return passed()
    late = [c for c in crowd.conns if bytes(c.got) != f"HELLO {names[c.index]}\n".encode()]
    if late:
        c = late[0]
        return failed(f"{count - len(late):,} of {count:,} logins were answered within 5 s", hint="blocking-call",
                      sent=what, expected=f"b'HELLO {names[c.index]}\\n'", got=text(bytes(c.got)))
    login_seconds = time.monotonic() - started
    for c in crowd.conns:
        c.got.clear()
    sender = crowd.conns[ctx.rng.randrange(count)]
    message = " ".join(_words(ctx.rng, 4))
    want = f"DELIVERY {names[sender.index]} {message}\n".encode()
    others = [c for c in crowd.conns if c is not sender]
    sent_at = time.monotonic()
    crowd.send(sender, f"SEND {message}\n".encode())
    crowd.pump(lambda: all(b"\n" in c.got for c in others), sent_at + 3.0)
    seconds = time.monotonic() - sent_at
    right = sum(bytes(c.got) == want for c in others)
    what += f"; {names[sender.index]} sends 'SEND {message}'"
    if right == len(others):
        return passed(f"{count:,} logins in {login_seconds:.2f} s; the SEND reached all others in {seconds:.2f} s")
    wrong = next(c for c in others if bytes(c.got) != want)
    hint = "protocol" if wrong.got and b"\n" in wrong.got else "blocking-call"
    got = text(bytes(wrong.got)) if wrong.got else "nothing"
    return failed(f"{right:,} of the {len(others):,} others had the DELIVERY within 3 s", hint=hint, sent=what,
                  expected=text(want), got=f"{names[wrong.index]}: {got}")


def _flood(student, ctx, *, messages: int, size: int):
    """A room with a sender, two fast readers and one user who never reads; the sender floods it.

    Returns (state dict, None) or (None, a failed verdict). The state has the
    arrival times at each fast reader, the sending times, the users, and
    whether the flood ended because nothing came for a whole second.
    """
    server, bad = _room(student, ctx, small=True, trace=False)
    if bad:
        return None, bad
    sender_name, fast1, fast2, slow_name = _pick_names(ctx.rng, 4)
    sender, one, two = (_User(ctx, server.address) for _ in range(3))
    slow = _User(ctx, server.address, rcvbuf=4096)
    what = f"{sender_name}, {fast1}, {fast2} and {slow_name} log in; {slow_name} never reads"
    wrong = _login_all(ctx, [sender, one, two, slow], [sender_name, fast1, fast2, slow_name], what=what)
    if wrong:
        return None, wrong
    body = bytes(ctx.rng.choice(b"abcdefghijklmnopqrstuvwxyz") for _ in range(size))
    lines = [b"SEND %06d " % i + body + b"\n" for i in range(messages)]
    sent_at: list[float] = []
    arrived = {one: [], two: []}
    out = bytearray()
    selector = ctx.own(selectors.DefaultSelector())
    for user in (sender, one, two):
        user.sock.setblocking(False)
        selector.register(user.sock, READ, user)
    next_line, oks = 0, 0
    began = time.monotonic()
    deadline = began + 4.0
    moved = began
    # The sender writes its lines as fast as the server takes them; the readers read all the while.
    # A whole second in which nothing reaches a reader means nothing more will.
    while time.monotonic() < min(deadline, moved + 1.0) and (
            next_line < len(lines) or out or min(len(arrived[one]), len(arrived[two])) < messages):
        # At most WINDOW messages ahead of the slower fast reader: however late the check's own thread
        # runs, a fast reader never has enough waiting for a correct room to take it for a slow one.
        while next_line < len(lines) and len(out) < 65536 and \
                next_line - min(len(arrived[one]), len(arrived[two])) < WINDOW:
            out += lines[next_line]
            next_line += 1
            sent_at.append(time.monotonic())
        if out:
            try:
                del out[:sender.sock.send(out)]
            except BlockingIOError:
                pass
            except OSError:
                break
        for key, _ in selector.select(0.01):
            user = key.data
            try:
                piece = user.sock.recv(262144)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                piece = b""
            if not piece:
                selector.unregister(user.sock)
                continue
            user.buffer += piece
            now = moved = time.monotonic()
            *done, user.buffer = user.buffer.split(b"\n")
            if user is sender:
                oks += len(done)
            else:
                arrived[user].extend((line, now) for line in done)
    ended = time.monotonic()
    for user in (sender, one, two):
        with contextlib.suppress(KeyError, ValueError, OSError):
            selector.unregister(user.sock)
        user.sock.setblocking(True)
    state = {"server": server, "names": (sender_name, fast1, fast2, slow_name), "users": (sender, one, two, slow),
             "lines": lines, "sent_at": sent_at, "arrived": arrived, "oks": oks, "what": what, "body": body,
             "stalled": ended - moved >= 1.0, "seconds": ended - began}
    return state, None


def _first_wrong(state, arrived):
    """(index, expected, got, hint) for the first line a fast reader got that is not its DELIVERY, or None."""
    prefix = f"DELIVERY {state['names'][0]} ".encode()
    for index, ((line, _), sent) in enumerate(zip(arrived, state["lines"])):
        want = prefix + sent[len(b"SEND "):-1]
        if line != want:
            # A piece of a SEND line inside a DELIVERY: the handler took a read() for a line.
            return index, want, line, "protocol" if line.startswith(b"DELIVERY ") and b"SEND " not in line else "lines"
    return None


def _short(state, name: str, count: int, messages: int, what: str, **evidence):
    """The failed verdict for a fast reader who had only `count` of the `messages`: stopped, or slow."""
    if state["stalled"]:
        return failed(f"{name} had {count:,} of the {messages:,} messages, and no more came for a whole second",
                      hint="drain-in-turn", sent=what, expected=f"all {messages:,} DELIVERY lines, each within 1 s",
                      got=f"{count:,} lines", **evidence)
    rate = count / state["seconds"] if state["seconds"] > 0 else 0.0
    return failed(f"{name} had {count:,} of the {messages:,} messages after {state['seconds']:.1f} s; they were "
                  f"still coming, but slowly (about {rate:,.0f} a second)", hint="slow-deliveries", sent=what,
                  expected=f"all {messages:,} DELIVERY lines, each within 1 s", got=f"{count:,} lines", **evidence)


@q3.condition("slow-consumer", "a user who never reads: the others still get every message within 1 s",
              budget=7.0)
def _(student, ctx):
    messages = ctx.rng.randint(1500, 2500) if ctx.graded else 2000
    state, bad = _flood(student, ctx, messages=messages, size=1000)
    if bad:
        return bad
    sender_name, fast1, fast2, slow_name = state["names"]
    what = state["what"] + f"; {sender_name} sends {messages:,} SEND lines of 1 KB as fast as it can"
    for user, name in zip(state["users"][1:3], (fast1, fast2)):
        arrived = state["arrived"][user]
        wrong = _first_wrong(state, arrived)
        if wrong:
            return failed(f"{name}'s DELIVERY number {wrong[0] + 1} is not the message sent", hint=wrong[3],
                          sent=what, expected=text(wrong[1]), got=text(wrong[2]))
        if len(arrived) < messages:
            errors = state["server"].errors
            return _short(state, name, len(arrived), messages, what,
                          error=f"your handle raised {type(errors[0]).__name__}: {errors[0]}" if errors else None)
        worst = max(when - state["sent_at"][index] for index, (_, when) in enumerate(arrived[:messages]))
        if worst > 1.0:
            return failed(f"{name} waited up to {worst:.2f} s for a message", hint="slow-deliveries", sent=what,
                          expected="every DELIVERY within 1 s of its SEND", got=f"{worst:.2f} s at worst")
    return passed(f"{messages:,} messages, each within 1 s")


@q3.condition("slow-dropped", "a user who never reads is dropped once more than 1 MiB waits for it", budget=7.0)
def _(student, ctx):
    messages = 3000
    state, bad = _flood(student, ctx, messages=messages, size=1000)
    if bad:
        return bad
    sender_name, fast1, fast2, slow_name = state["names"]
    sender, one, _, slow = state["users"]
    what = state["what"] + f"; {sender_name} sends {messages:,} SEND lines of 1 KB (3 MB for {slow_name})"
    arrived = len(state["arrived"][one])
    if arrived < messages:
        return _short(state, fast1, arrived, messages, what)
    listed, reply = _list_until(one, {sender_name, fast1, fast2}, 1.0)
    if listed is None:
        return failed(f"{fast1}'s LIST got {_said(reply)}", hint="protocol", sent=what + f"; {fast1} asks LIST",
                      expected="LIST-OK and the names", got=_said(reply))
    if slow_name in listed:
        return failed(f"after 3 MB waited for {slow_name}, LIST still names it", hint="drop-slow",
                      sent=what + f"; {fast1} asks LIST",
                      expected=f"no {slow_name}: dropped once more than {ROOM_LIMIT:,} bytes waited for it",
                      got=_said(reply))
    # Its connection must have ended too: what the kernel still holds for it, then the end.
    slow.sock.settimeout(0.5)
    deadline, total = time.monotonic() + 2.0, 0
    while time.monotonic() < deadline:
        try:
            piece = slow.sock.recv(1 << 20)
        except TimeoutError:
            return failed(f"{slow_name} is off the LIST, but its connection is still open", hint="drop-slow",
                          sent=what, expected="the end of its connection", got=f"{total:,} bytes, then nothing")
        except OSError:
            break
        if not piece:
            break
        total += len(piece)
    # abort() throws away what waits in the server; only what the kernel's buffers held (well under 1 MiB
    # with a 64 KiB send buffer and a 4 KiB receive buffer) can still reach the user.
    if total > ROOM_LIMIT:
        return failed(f"{slow_name} is off the LIST, but {total:,} bytes still reached it before its connection "
                      f"ended: it was closed, sending all that waited, instead of aborted", hint="drop-slow",
                      sent=what + f"; then {slow_name} reads all it can",
                      expected=f"the end at once (transport.abort()): at most what the kernel holds, far less "
                      f"than {ROOM_LIMIT:,} bytes", got=f"{total:,} bytes, then the end")
    return passed(f"dropped; then {total:,} bytes from the kernel's buffers reached it")


@q3.condition("byte-by-byte", "a login and a SEND that arrive one byte at a time (link chunk=1)", graded_only=True)
def _(student, ctx):
    server, bad = _room(student, ctx)
    if bad:
        return bad
    ann, bea = _pick_names(ctx.rng, 2)
    relay = ctx.link(server.address, chunk=1, gap=0.002)
    first, second = _User(ctx, server.address), _User(ctx, relay.address)
    wrong = _login_all(ctx, [first], [ann], what=f"{ann} logs in")
    if wrong:
        return wrong
    message = " ".join(_words(ctx.rng, 2))
    what = f"{ann} logs in; {bea} logs in and sends 'SEND {message}', one byte at a time"
    reply = second.login(bea, timeout=2.0)
    if reply != f"HELLO {bea}".encode():
        return failed(f"the login that came one byte at a time got {_said(reply)}", hint="lines", sent=what,
                      expected=f"b'HELLO {bea}\\n'", got=_said(reply))
    second.send(f"SEND {message}\n".encode())
    reply = second.line(2.0)
    want = f"DELIVERY {bea} {message}".encode()
    got = first.line(1.0)
    if reply != b"SEND-OK" or got != want:
        return failed(f"the SEND that came one byte at a time: {bea} got {_said(reply)}, {ann} got {_said(got)}",
                      hint="lines", sent=what, expected=f"SEND-OK, and {text(want)} with its newline",
                      got=f"{_said(reply)} | {_said(got)}")
    return passed()


QUESTIONS = [q1, q2, q3]


def summary(namespace: dict):
    """The last cell of the homework: every question checked again, one line each."""
    return _summary(QUESTIONS, namespace)
