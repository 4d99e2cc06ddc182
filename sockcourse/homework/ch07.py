"""Chapter 07 homework (socket options): four options, each one judged by what the kernel then does.

q1 `quick(sock)`: configure a connected TCP client so that the
   write-write-read pattern (a header and a body in two sends, then wait for
   the reply) no longer stalls on Nagle's algorithm meeting the server's
   delayed ACK. The check owns the sends and the server, times the rounds,
   reads TCP_NODELAY back, and compares every other option before and after.
q2 `abort(sock)`: close a connection with RST instead of FIN: the peer's
   recv() raises ConnectionResetError, data still queued is thrown away, the
   socket is closed, and the kernel keeps no TIME_WAIT for the connection.
q3 `listen_again(port)`: a listening socket on 127.0.0.1:port right after a
   connection of an old server on that port went to TIME_WAIT, but never a
   port that a live server still listens on (SO_REUSEPORT is the wrong tool),
   with a backlog that holds a burst of clients.
q4 `connect_result(address, timeout)`: a non-blocking connect, waited for
   with select() and read with SO_ERROR: 0, an errno, or None while the
   handshake is still pending at the timeout (a listener whose accept queue
   is full drops the SYN, so the connect stays pending).

Two things the check must see happen inside the student's calls come from
the interpreter's audit events (PEP 578), through one hook installed once:
every bind() and connect() aimed at a port a condition watches is noted with
its socket (held, so that a socket the student forgot is found open rather
than closed quietly by the garbage collector), and a bind() of a watched
port to any address but 127.0.0.1 is refused before the system call, so a
wrong answer that would listen on every interface never does.

Every condition runs on loopback with sockets the check owns.
"""

from __future__ import annotations

import contextlib
import errno
import select
import socket
import statistics
import struct
import sys
import threading
import time

from ..core.addresses import ipv6_loopback
from ..core.binding import open_socket
from ..core.errors import IncompleteMessage, describe
from ..core.sockets import recv_exactly
from ..kernel import view as kernel_view
from .core import Question, failed, passed, plural, skipped, summary as _summary, text

CHAPTER = "07_options"

#: Where the chapter explains each option (its sections' anchors).
NODELAY_SECTION = "chapter 07, section 'TCP_NODELAY' (07_options.ipynb#tcp-nodelay)"
LINGER_SECTION = "chapter 07, section 'SO_LINGER' (07_options.ipynb#so-linger)"
REUSE_SECTION = "chapter 07, section 'SO_REUSEADDR' (07_options.ipynb#so-reuseaddr)"
ERROR_SECTION = "chapter 07, section 'SO_ERROR' (07_options.ipynb#so-error)"

#: A round of q1 faster than this (the median) has no delayed-ACK stall: Linux waits at least
#: 40 ms (TCP_DELACK_MIN in include/net/tcp.h) before a delayed ACK, a loopback round takes
#: well under a millisecond, so the line sits where a slow machine cannot cross it either way.
STALL_LINE_MS = 10.0
#: Rounds q1 sends before it starts timing: a new connection acknowledges at once for its first
#: segments ("quick ACK" mode), which would hide the stall it is looking for.
WARM_ROUNDS = 2
#: Clients q3's burst connects at once, all of which must wait in the accept queue.
BURST = 16
#: How much later than its timeout connect_result may come back (q4).
LATE_BY = 0.5
#: The most q2 queues on a socket that nobody reads (the kernel's buffers fill long before).
FILL_LIMIT = 64 << 20


def _ms(values) -> str:
    return ", ".join(f"{v:.1f}" for v in values) + " ms"


# -- watching the student's bind() and connect() calls (audit events) -------------------------------------
_watch_lock = threading.Lock()
#: port -> list of notes; each note is (event, host, socket, timeout at the call) for a call on that port.
_watched: dict = {}
#: ports on which a bind to any host but 127.0.0.1 is refused before the system call.
_loopback_only: set = set()
_hook_installed = False

#: The hosts a bind() may name for 127.0.0.1 (the audit event sees the address as it was written).
_LOOPBACK_NAMES = {"127.0.0.1", "localhost"}


def _install_hook() -> None:
    global _hook_installed
    with _watch_lock:
        if _hook_installed:
            return
        _hook_installed = True
    sys.addaudithook(_audit)


def _audit(event: str, args: tuple) -> None:
    if event not in ("socket.bind", "socket.connect") or not _watched:
        return
    sock, address = args[0], args[1]
    if not (isinstance(address, tuple) and len(address) >= 2 and isinstance(address[1], int)):
        return
    host, port = address[0], address[1]
    with _watch_lock:
        notes = _watched.get(port)
        if notes is None:
            return
        try:
            timeout = sock.gettimeout()
        except OSError:
            timeout = None
        notes.append((event, host, sock, timeout))
        refuse = event == "socket.bind" and port in _loopback_only and host not in _LOOPBACK_NAMES
    if refuse:
        shown = "every interface (0.0.0.0)" if host in ("", "0.0.0.0", b"") else repr(host)
        raise PermissionError(f"the check refused to bind port {port} on {shown}: this exercise listens on "
                              f"127.0.0.1 only")


@contextlib.contextmanager
def _watching(ctx, port: int, *, loopback_only: bool = False):
    """Note every bind() and connect() on `port` while the block runs; the sockets are the condition's."""
    _install_hook()
    notes: list = []
    with _watch_lock:
        _watched[port] = notes
        if loopback_only:
            _loopback_only.add(port)
    try:
        yield notes
    finally:
        with _watch_lock:
            if _watched.get(port) is notes:
                del _watched[port]
            _loopback_only.discard(port)
        for _, _, sock, _ in notes:
            ctx.own(sock)  # closed at the end of the condition, if the student's code did not


def _left_open(notes) -> list:
    """The sockets among the notes that are still open (each once)."""
    found = []
    for _, _, sock, _ in notes:
        if sock.fileno() != -1 and all(sock is not other for other in found):
            found.append(sock)
    return found


# -- small helpers of the check's own -----------------------------------------------------------------------
def _tcp_pair(ctx, host: str = "127.0.0.1"):
    """ctx.pair() on `host`, with the student's end bounded too: the check itself sends and reads on it."""
    peer, mine = ctx.pair(host=host)
    mine.settimeout(ctx.budget)
    return peer, mine


def _port(address: str) -> int:
    return int(address.rpartition(":")[2])


def _rows_of(ends, *, until=None, timeout: float = 0.3) -> list:
    """The kernel's rows for exactly one connection, `ends` = (one end's address, the other's)."""
    ports = {ends[0][1], ends[1][1]}
    table = kernel_view.states(ends[0][:2], until=until, timeout=timeout)
    return [row for row in table if row.remote and {_port(row.local), _port(row.remote)} == ports]


# ====================================================================================
q1 = Question(CHAPTER, "q1", answer="quick", title="Find the option that removes the Nagle stall",
              section="tcp-nodelay")

q1.hint("nagle",
        "A header and then a body in two sends stall because two habits meet: Nagle's algorithm (RFC 896) "
        "keeps the small body back until the header is acknowledged, and the server, which has nothing to "
        "send yet, delays that ACK (RFC 1122 4.2.3.2; at least 40 ms on Linux). Turn Nagle off on your "
        "socket: sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1) (tcp(7)). TCP_QUICKACK on the "
        f"client does not help: the ACK that comes late is the server's, not yours ({NODELAY_SECTION}).")
q1.hint("level",
        "TCP_NODELAY is an option of TCP, so its level is socket.IPPROTO_TCP. At socket.SOL_SOCKET the same "
        "number 1 means another option (SO_DEBUG), which changes nothing here and may be refused "
        f"({NODELAY_SECTION}).")
q1.hint("in-place",
        "quick(sock) sets the option on the very socket it is given, keeps it open and returns None: the "
        "check goes on sending on that socket. A new socket, or a closed one, is not the connection the "
        "check measures.")
q1.hint("only-nodelay",
        "Set TCP_NODELAY and nothing else: the blocking mode, the timeout, the buffers, TCP_CORK and the "
        "other options stay as the check made them. Each change hides or causes something of its own "
        f"(TCP_CORK, say, holds data back for up to 200 ms) ({NODELAY_SECTION}).")

#: Options q1 compares before and after quick(): everything a student could change that matters here.
#: TCP_NODELAY is the one meant to change; TCP_QUICKACK is left out, because the kernel itself flips it.
_Q1_OPTIONS = [("SOL_SOCKET", name) for name in ("SO_SNDBUF", "SO_RCVBUF", "SO_KEEPALIVE", "SO_OOBINLINE",
                                                 "SO_RCVLOWAT", "SO_DEBUG", "SO_PRIORITY", "SO_BROADCAST")] \
    + [("IPPROTO_TCP", name) for name in ("TCP_CORK", "TCP_MAXSEG", "TCP_KEEPIDLE", "TCP_KEEPINTVL",
                                          "TCP_KEEPCNT")]


def _snapshot(sock: socket.socket) -> dict:
    """Every option of _Q1_OPTIONS this system has, SO_LINGER, and the socket's timeout, as plain values."""
    found = {}
    for level, name in _Q1_OPTIONS:
        if not hasattr(socket, name):
            continue
        try:
            found[name] = sock.getsockopt(getattr(socket, level), getattr(socket, name))
        except OSError:
            continue
    with contextlib.suppress(OSError, struct.error):
        found["SO_LINGER"] = tuple(struct.unpack("ii", sock.getsockopt(socket.SOL_SOCKET, socket.SO_LINGER, 8)))
    found["timeout"] = sock.gettimeout()
    return found


def _nodelay(sock: socket.socket) -> int:
    return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)


def _rounds(peer, mine, *, count: int, head: int, body: int) -> list[float]:
    """Milliseconds of each write-write-read round: mine sends head then body, peer answers when it has both.

    One thread plays both ends: mine's second send returns at once (the
    kernel queues it), and peer's recv() waits for as long as the body is
    held back, which is exactly the stall being measured.
    """
    header, payload, reply = b"H" * head, b"B" * body, b"ok"
    times = []
    for _ in range(WARM_ROUNDS + count):
        started = time.perf_counter()
        mine.sendall(header)
        mine.sendall(payload)
        recv_exactly(peer, head + body, what="header and body", eof_ok=False)
        peer.sendall(reply)
        recv_exactly(mine, len(reply), what="reply", eof_ok=False)
        times.append((time.perf_counter() - started) * 1000)
    return times[WARM_ROUNDS:]


def _configured(student, ctx, host: str = "127.0.0.1"):
    """A fresh connection, quick() called on its client end: (peer, mine, outcome, options before, after)."""
    peer, mine = _tcp_pair(ctx, host)
    before = _snapshot(mine)
    outcome = ctx.call(student, mine, budget=1.5)
    after = _snapshot(mine) if mine.fileno() != -1 else {}
    return peer, mine, outcome, before, after


def _not_configured(outcome, mine, before, after, sent: str):
    """The verdict when quick() did not leave a usable socket with TCP_NODELAY on, else None."""
    if outcome.raised:
        hint = "level" if isinstance(outcome.error, OSError) else "nagle"
        return failed(f"quick() {outcome.text()}", hint=hint, sent=sent, expected="TCP_NODELAY on, read back")
    if not outcome.returned:
        return failed(f"quick() {outcome.text()}", hint="nagle", sent=sent, expected="quick() returns at once")
    if mine.fileno() == -1:
        return failed("quick() closed the socket it was given", hint="in-place", sent=sent,
                      expected="the same socket, still open, with TCP_NODELAY on")
    if isinstance(outcome.value, socket.socket) and outcome.value is not mine:
        with contextlib.suppress(OSError):
            outcome.value.close()
        return failed("quick() returned another socket; the check measures the one it gave you", hint="in-place",
                      sent=sent, expected="None, with TCP_NODELAY on the socket it was given",
                      got=text(outcome.value))
    if not _nodelay(mine):
        debug = after.get("SO_DEBUG", 0) and not before.get("SO_DEBUG", 0)
        return failed("TCP_NODELAY reads back off after quick()" + (", and SO_DEBUG is on instead" if debug else ""),
                      hint="level" if debug else "nagle", sent=sent,
                      expected="getsockopt(IPPROTO_TCP, TCP_NODELAY) != 0", got=_nodelay(mine))
    return None


@q1.condition("on", "TCP_NODELAY reads back on, on the socket it was given")
def _(student, ctx):
    peer, mine, outcome, before, after = _configured(student, ctx)
    sent = "quick(sock) on a fresh connected TCP socket"
    wrong = _not_configured(outcome, mine, before, after, sent)
    return wrong or passed("getsockopt(IPPROTO_TCP, TCP_NODELAY) is on")


def _judge_rounds(student, ctx, *, host: str, count: int, head: int, body: int):
    peer, mine, outcome, before, after = _configured(student, ctx, host)
    sent = (f"quick(sock), then {count} rounds on {host}: a {head}-byte header and a {body}-byte body in two "
            f"sendall() calls, then a 2-byte reply the server sends once it has both")
    if not outcome.returned or mine.fileno() == -1:
        return _not_configured(outcome, mine, before, after, sent)
    mine.settimeout(ctx.budget)  # the rounds are the check's: bounded whatever quick() left
    try:
        times = _rounds(peer, mine, count=count, head=head, body=body)
    except (OSError, IncompleteMessage) as exc:
        return failed(f"the check's rounds failed on the socket quick() left: {describe(exc)}", hint="only-nodelay",
                      sent=sent, expected="the rounds run as on any connected socket")
    median = statistics.median(times)
    if median < STALL_LINE_MS:
        return passed(f"median round {median:.2f} ms")
    cork = after.get("TCP_CORK", 0) and not before.get("TCP_CORK", 0)
    return failed(f"each round still waits for the delayed ACK: median {median:.1f} ms", hint="only-nodelay"
                  if cork else "nagle", sent=sent, expected=f"a median round well under {STALL_LINE_MS:.0f} ms",
                  got=f"median {median:.1f} ms (rounds: {_ms(times)})")


@q1.condition("rounds", "header, body, reply: no 40 ms stall in the rounds", budget=6.0)
def _(student, ctx):
    count, head, body = ((ctx.rng.randrange(6, 12), ctx.rng.randrange(2, 17), ctx.rng.randrange(20, 1400))
                         if ctx.graded else (8, 8, 100))
    return _judge_rounds(student, ctx, host="127.0.0.1", count=count, head=head, body=body)


@q1.condition("unchanged", "TCP_NODELAY is all it changes: timeout and the other options as they were")
def _(student, ctx):
    peer, mine, outcome, before, after = _configured(student, ctx)
    sent = "quick(sock) on a fresh connected TCP socket with a timeout of " + f"{before['timeout']:g} s"
    if not outcome.returned or mine.fileno() == -1:
        return _not_configured(outcome, mine, before, after, sent)
    changed = [name for name in before if after.get(name) != before[name]]
    if changed:
        shown = "; ".join(f"{name} {before[name]!r} -> {after.get(name)!r}" for name in changed)
        return failed(f"quick() changed {plural(len(changed), 'setting')} besides TCP_NODELAY", hint="only-nodelay",
                      sent=sent, expected="only TCP_NODELAY changed", got=shown)
    peer.setblocking(False)
    try:
        stray = peer.recv(4096)
    except BlockingIOError:
        stray = None
    finally:
        peer.settimeout(ctx.budget)
    if stray is not None:
        return failed("quick() sent something on the connection (or closed it)", hint="in-place", sent=sent,
                      expected="nothing sent: the check owns the sends", got=text(stray))
    return passed(f"{plural(len(before), 'setting')} compared")


@q1.condition("ipv6", "the rounds over IPv6 (::1), other sizes", graded_only=True, budget=6.0)
def _(student, ctx):
    if not ipv6_loopback():
        return skipped("this machine has no IPv6 loopback (::1), so the check cannot run on it")
    count, head, body = ctx.rng.randrange(6, 12), ctx.rng.randrange(2, 17), ctx.rng.randrange(20, 1400)
    return _judge_rounds(student, ctx, host="::1", count=count, head=head, body=body)


# ====================================================================================
q2 = Question(CHAPTER, "q2", answer="abort", title="Make close() send RST", section="so-linger")

q2.hint("linger-zero",
        "close() sends FIN and lets queued data go on. To reset instead, turn SO_LINGER on with a time of 0 "
        "before you close: sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0)), "
        "then sock.close() (socket(7), SO_LINGER). A time above 0, Linger(True, 5) say, is a graceful close "
        f"that waits up to that long for the data to go ({LINGER_SECTION}).")
q2.hint("layout",
        "SO_LINGER takes a struct linger, two C ints (l_onoff, l_linger), so pass 8 bytes: "
        "struct.pack('ii', 1, 0). A plain int or 4 bytes is refused with EINVAL (socket(7)).")
q2.hint("close-it",
        "Setting SO_LINGER only says what close() will do; nothing happens on the wire until you call "
        "sock.close(). After abort(sock) returns, sock.fileno() must be -1.")
q2.hint("no-shutdown",
        "shutdown() sends FIN at once, so the peer reads a clean end of stream (b'') before any reset: a "
        "reset then comes too late to mean anything. For an abort, set SO_LINGER to (1, 0) and call close() "
        f"without a shutdown() first ({LINGER_SECTION}).")


def _peer_reads(peer: socket.socket, *, seconds: float = 1.5) -> tuple[str, int]:
    """('reset' | 'eof' | 'silent', bytes read first): how the connection ended for the check's end."""
    got, deadline = 0, time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        peer.settimeout(left)
        try:
            piece = peer.recv(1 << 20)
        except ConnectionResetError:
            return "reset", got
        except (socket.timeout, TimeoutError):
            break
        except OSError:
            return "reset", got
        if not piece:
            return "eof", got
        got += len(piece)
    return "silent", got


def _reset_after_fin(peer: socket.socket) -> bool:
    """After the peer read FIN: did a reset follow it? A send then fails at once (a shutdown() before the abort)."""
    time.sleep(0.05)
    try:
        peer.send(b"?")
    except OSError:
        return True
    return False


def _judge_abort(ctx, outcome, mine, peer, ends, *, sent: str, want_rows: bool, unsent: int = 0):
    if outcome.raised:
        layout = isinstance(outcome.error, OSError) and getattr(outcome.error, "errno", None) == errno.EINVAL
        return failed(f"abort() {outcome.text()}", hint="layout" if layout else "linger-zero", sent=sent,
                      expected="the peer's recv() raises ConnectionResetError")
    if not outcome.returned:
        return failed(f"abort() {outcome.text()}: close() waited for the queued data to go", hint="linger-zero",
                      sent=sent, expected="abort() returns at once and the peer is reset")
    how, got = _peer_reads(peer)
    if how == "eof":
        shut = mine.fileno() != -1 or _reset_after_fin(peer)
        extra = f" after all {got:,} queued bytes" if unsent and got >= unsent else ""
        return failed(f"the peer read a clean end of stream (FIN){extra}, not a reset",
                      hint="no-shutdown" if shut else "linger-zero", sent=sent,
                      expected="ConnectionResetError on the peer's recv()", got=f"b'' after {got:,} bytes")
    if how == "silent":
        return failed("the peer heard nothing: no FIN, no reset", hint="close-it", sent=sent,
                      expected="ConnectionResetError on the peer's recv()", got="recv() still waiting after 1.5 s")
    if mine.fileno() != -1:
        return failed("the peer was reset, but the socket is still open", hint="close-it", sent=sent,
                      expected="sock.fileno() == -1 after abort(sock)", got=f"fileno() {mine.fileno()}")
    if unsent and got >= unsent:
        return failed(f"the peer got all {got:,} queued bytes before the reset", hint="linger-zero", sent=sent,
                      expected="the unsent data thrown away")
    if want_rows:
        peer.close()
        rows = _rows_of(ends, until="TIME_WAIT", timeout=0.3)
        waiting = [row for row in rows if row.state == "TIME_WAIT"]
        if waiting:
            return failed("the kernel keeps the connection in TIME_WAIT", hint="linger-zero", sent=sent,
                          expected="no row left for this connection", got=", ".join(
                              f"{r.local} -> {r.remote} {r.state}" for r in waiting))
    return passed("the peer was reset" + (f" after {got:,} of {unsent:,} queued bytes" if unsent else ""))


def _abort_on(student, ctx, *, host: str = "127.0.0.1", peer_fin: bool = False, want_rows: bool = False):
    peer, mine = _tcp_pair(ctx, host)
    ends = (mine.getsockname(), mine.getpeername())
    sent = f"abort(sock) on an idle connected TCP socket on {host}"
    if peer_fin:
        peer.shutdown(socket.SHUT_WR)
        _rows_of(ends, until="CLOSE_WAIT", timeout=1.0)  # the FIN has arrived: mine is in CLOSE_WAIT
        sent = f"abort(sock) on {host}, after the peer has shut down its side (FIN): sock is in CLOSE_WAIT"
    outcome = ctx.call(student, mine, budget=1.5)
    return _judge_abort(ctx, outcome, mine, peer, ends, sent=sent, want_rows=want_rows)


@q2.condition("reset", "an idle connection: the peer's recv() raises ConnectionResetError")
def _(student, ctx):
    return _abort_on(student, ctx)


@q2.condition("closed", "the socket is closed afterwards (fileno() is -1)")
def _(student, ctx):
    peer, mine = _tcp_pair(ctx)
    outcome = ctx.call(student, mine, budget=1.5)
    sent = "abort(sock) on an idle connected TCP socket"
    if outcome.raised or not outcome.returned:
        return failed(f"abort() {outcome.text()}", hint="linger-zero", sent=sent, expected="abort() returns")
    if mine.fileno() != -1:
        return failed("the socket is still open after abort()", hint="close-it", sent=sent,
                      expected="sock.fileno() == -1", got=f"fileno() {mine.fileno()}")
    return passed("fileno() is -1")


@q2.condition("no-time-wait", "no TIME_WAIT left for the connection in the kernel's table")
def _(student, ctx):
    peer, mine = _tcp_pair(ctx)
    ends = (mine.getsockname(), mine.getpeername())
    outcome = ctx.call(student, mine, budget=1.5)
    sent = "abort(sock), then the peer reads and closes; then kernel.states() for this connection"
    if outcome.raised or not outcome.returned:
        return failed(f"abort() {outcome.text()}", hint="linger-zero", sent=sent, expected="abort() returns")
    _peer_reads(peer, seconds=0.5)
    peer.close()
    rows = _rows_of(ends, until="TIME_WAIT", timeout=0.3)
    if rows:
        shown = ", ".join(f"{r.local} -> {r.remote} {r.state}" for r in rows)
        return failed(f"the kernel still holds the connection ({rows[0].state})", hint="no-shutdown"
                      if mine.fileno() != -1 else "linger-zero", sent=sent, expected="no row for this connection",
                      got=shown)
    return passed("no row left")


@q2.condition("unsent", "data queued and never read by the peer: thrown away, at once")
def _(student, ctx):
    peer, mine = _tcp_pair(ctx)
    mine.setblocking(False)
    queued, chunk, deadline = 0, b"x" * 65536, time.monotonic() + 2.0
    try:
        while queued < FILL_LIMIT and time.monotonic() < deadline:
            queued += mine.send(chunk)
    except BlockingIOError:
        pass  # the peer's receive buffer and our send buffer are full
    mine.settimeout(ctx.budget)
    sent = f"{queued:,} bytes queued on sock that the peer has not read, then abort(sock)"
    outcome = ctx.call(student, mine, budget=1.5)
    return _judge_abort(ctx, outcome, mine, peer, None, sent=sent, want_rows=False, unsent=queued)


@q2.condition("peer-fin", "the peer has already sent FIN: still a reset, no TIME_WAIT", graded_only=True)
def _(student, ctx):
    return _abort_on(student, ctx, peer_fin=True, want_rows=True)


@q2.condition("ipv6", "an idle connection over IPv6 (::1), no TIME_WAIT", graded_only=True)
def _(student, ctx):
    if not ipv6_loopback():
        return skipped("this machine has no IPv6 loopback (::1), so the check cannot run on it")
    return _abort_on(student, ctx, host="::1", want_rows=True)


# ====================================================================================
q3 = Question(CHAPTER, "q3", answer="listen_again", title="Restart a server on its port at once",
              section="so-reuseaddr")

q3.hint("reuseaddr",
        "bind() refuses a port whose old connection still sits in TIME_WAIT (EADDRINUSE) unless the new "
        "socket has SO_REUSEADDR on, set before bind(): sock.setsockopt(socket.SOL_SOCKET, "
        f"socket.SO_REUSEADDR, 1) (socket(7)). SO_REUSEPORT alone does not do it ({REUSE_SECTION}).")
q3.hint("loopback",
        "Bind 127.0.0.1, the loopback address: sock.bind(('127.0.0.1', port)). An empty host or '0.0.0.0' "
        "listens on every interface of the machine, open to the network; the check refuses that bind.")
q3.hint("listen",
        "A bound socket is not a server yet: call sock.listen() after bind(), and return that socket, "
        "open. The port must be the one you were given.")
q3.hint("reuseport",
        "SO_REUSEPORT lets a second socket bind a port that a live server listens on, if both set it, and "
        "then the kernel shares the connections between them: you would steal half of another server's "
        "clients. Restarting over TIME_WAIT needs SO_REUSEADDR only; with it, a port that still has a "
        f"listener stays refused, as it should ({REUSE_SECTION}).")
q3.hint("raise",
        "When bind() fails, the port is not yours: close your socket and let the OSError (EADDRINUSE) go "
        "on to the caller (try: ... except OSError: sock.close(); raise). Returning None or a socket that "
        "does not listen hides the failure.")
q3.hint("backlog",
        "listen(backlog) sets how many finished handshakes may wait for accept(); Linux drops a SYN when "
        "that queue is full, and the client tries again a second later. listen() without an argument gives "
        "a sensible default (128 or the system's limit); listen(0) or listen(1) holds one or two (listen(2)).")
q3.hint("keep-reuse",
        "Leave SO_REUSEADDR on: the connections the server accepts take the setting of their listener, and "
        "on Linux a TIME_WAIT connection blocks the next bind() unless it had SO_REUSEADDR too. Turning it "
        "off once the socket listens makes the next restart fail.")


def _time_wait_port(ctx) -> int:
    """A port on 127.0.0.1 whose only trace is a TIME_WAIT connection of an old server (with SO_REUSEADDR)."""
    # open_socket sets SO_REUSEADDR, as every course server does: on Linux the TIME_WAIT left behind
    # keeps its socket's setting, and only a TIME_WAIT that had it lets a new SO_REUSEADDR bind through.
    old = ctx.own(open_socket(socket.AF_INET, socket.SOCK_STREAM, host="127.0.0.1", port=0, backlog=4,
                              what="the check's old server").sock)
    old.settimeout(ctx.budget)
    port = old.getsockname()[1]
    client = ctx.own(socket.create_connection(("127.0.0.1", port), timeout=ctx.budget))
    conn, _ = old.accept()
    conn.close()  # the server closes first, so its end is the one that waits in TIME_WAIT
    client.recv(1)
    client.close()
    old.close()
    return port


def _listener_from(ctx, student, port: int):
    """listen_again(port) called with binds on that port watched: (outcome, wildcard binds, notes)."""
    with _watching(ctx, port, loopback_only=True) as notes:
        outcome = ctx.call(student, port, budget=1.5)
    if outcome.returned and isinstance(outcome.value, socket.socket):
        ctx.own(outcome.value)
    wild = [host for event, host, _, _ in notes if event == "socket.bind" and host not in _LOOPBACK_NAMES]
    return outcome, wild, notes


def _judge_listener(outcome, wild, port: int, *, sent: str):
    """None if listen_again returned a socket listening on 127.0.0.1:port, else the verdict."""
    expected = f"a listening socket on 127.0.0.1:{port}"
    if wild:
        return failed(f"listen_again() tried to bind port {port} on {wild[0]!r}, every interface of this machine",
                      hint="loopback", sent=sent, expected=expected)
    if outcome.raised:
        code = getattr(outcome.error, "errno", None)
        return failed(f"listen_again() {outcome.text()}", hint="reuseaddr" if code == errno.EADDRINUSE else "listen",
                      sent=sent, expected=expected)
    if not outcome.returned:
        return failed(f"listen_again() {outcome.text()}", hint="listen", sent=sent, expected=expected)
    sock = outcome.value
    if not isinstance(sock, socket.socket) or sock.fileno() == -1:
        return failed(f"listen_again() returned {text(sock)}" + (", closed" if isinstance(sock, socket.socket) else ""),
                      hint="listen", sent=sent, expected=expected, got=text(sock))
    if sock.type != socket.SOCK_STREAM:
        return failed("listen_again() returned a socket that is not TCP", hint="listen", sent=sent,
                      expected=expected, got=text(sock))
    where = sock.getsockname()
    if where[0] != "127.0.0.1":
        return failed(f"listen_again() returned a socket bound to {where[0]!r}", hint="loopback", sent=sent,
                      expected=expected, got=text(where))
    if where[1] != port:
        return failed(f"listen_again() returned a socket on port {where[1]}, not {port}", hint="listen",
                      sent=sent, expected=expected, got=text(where))
    if not sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
        return failed("listen_again() returned a bound socket that does not listen", hint="listen", sent=sent,
                      expected=expected, got="SO_ACCEPTCONN is 0")
    return None


def _restart(student, ctx):
    """listen_again(port) right after a TIME_WAIT on port: (outcome, wild, port, sent) or a skip verdict."""
    port = _time_wait_port(ctx)
    states = kernel_view.states(port, until="TIME_WAIT", timeout=1.0).states()
    if "TIME_WAIT" not in states:
        return skipped(f"the kernel shows no TIME_WAIT on port {port} ({states}), so this condition cannot run here")
    outcome, wild, _ = _listener_from(ctx, student, port)
    return outcome, wild, port, f"listen_again({port}) while an old connection on that port is in TIME_WAIT"


def _restarted(student, ctx):
    """_restart() judged: (the listening socket, port, sent) when listen_again did its job, else the verdict."""
    found = _restart(student, ctx)
    if not isinstance(found, tuple):
        return found
    outcome, wild, port, sent = found
    return _judge_listener(outcome, wild, port, sent=sent) or (outcome.value, port, sent)


@q3.condition("time-wait", "right after a TIME_WAIT on the port: a socket listening on it")
def _(student, ctx):
    found = _restarted(student, ctx)
    if not isinstance(found, tuple):
        return found
    return passed(f"listening on 127.0.0.1:{found[1]}")


@q3.condition("loopback", "on 127.0.0.1 only, never on every interface")
def _(student, ctx):
    found = _restart(student, ctx)
    if not isinstance(found, tuple):
        return found
    outcome, wild, port, sent = found
    if wild:
        return failed(f"listen_again() tried to bind port {port} on {wild[0]!r}: every interface of this machine, "
                      f"open to the network", hint="loopback", sent=sent, expected=f"bind(('127.0.0.1', {port}))",
                      got=f"bind(({wild[0]!r}, {port})), refused by the check")
    verdict = _judge_listener(outcome, wild, port, sent=sent)
    if verdict is not None:
        return verdict
    return passed("127.0.0.1 only")


@q3.condition("accepts", "a client connects, and a byte goes each way")
def _(student, ctx):
    found = _restarted(student, ctx)
    if not isinstance(found, tuple):
        return found
    server, port, sent = found
    client = ctx.own(socket.create_connection(("127.0.0.1", port), timeout=ctx.budget))
    ready, _, _ = select.select([server], [], [], 1.0)
    if not ready:
        return failed("the client connected, but accept() had nothing within 1 s", hint="listen", sent=sent,
                      expected="accept() returns the client's connection")
    conn, _ = server.accept()
    ctx.own(conn)
    conn.settimeout(ctx.budget)
    client.sendall(b"?")
    conn.sendall(conn.recv(1))
    if client.recv(1) != b"?":
        return failed("the byte did not come back", hint="listen", sent=sent, expected="b'?' back")
    return passed("accepted, and a byte went each way")


@q3.condition("live", "a server still listens on the port (with SO_REUSEPORT): OSError, the port left alone")
def _(student, ctx):
    if not hasattr(socket, "SO_REUSEPORT"):
        return skipped("this system has no SO_REUSEPORT, so the check cannot set the trap")
    live = ctx.own(open_socket(socket.AF_INET, socket.SOCK_STREAM, host="127.0.0.1", port=0, backlog=8,
                               what="the check's live server",
                               setup=lambda s: s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)).sock)
    port = live.getsockname()[1]
    sent = f"listen_again({port}) while a live server listens on 127.0.0.1:{port} with SO_REUSEADDR and SO_REUSEPORT"
    outcome, wild, notes = _listener_from(ctx, student, port)
    if wild:
        return failed(f"listen_again() tried to bind port {port} on {wild[0]!r}", hint="loopback", sent=sent,
                      expected="OSError (EADDRINUSE)")
    if outcome.raised and getattr(outcome.error, "errno", None) == errno.EADDRINUSE:
        left = _left_open(notes)
        if left:
            return failed("listen_again() raised EADDRINUSE but left its socket open", hint="raise", sent=sent,
                          expected="the socket closed, then the OSError raised", got=text(left[0]))
        return passed("raised EADDRINUSE")
    if outcome.returned and isinstance(outcome.value, socket.socket):
        sock = outcome.value
        shared = hasattr(socket, "SO_REUSEPORT") and sock.fileno() != -1 and sock.getsockopt(
            socket.SOL_SOCKET, socket.SO_REUSEPORT)
        return failed("listen_again() took the port of a server that is still listening" if shared else
                      "listen_again() returned a socket for a port it could not have", hint="reuseport"
                      if shared else "raise", sent=sent, expected="OSError (EADDRINUSE)", got=text(sock))
    if outcome.raised:
        return failed(f"listen_again() {outcome.text()}", hint="raise", sent=sent, expected="OSError (EADDRINUSE)")
    return failed(f"listen_again() {outcome.text()}", hint="raise", sent=sent, expected="OSError (EADDRINUSE)")


@q3.condition("backlog", f"a burst of {BURST} clients all wait in the accept queue")
def _(student, ctx):
    found = _restarted(student, ctx)
    if not isinstance(found, tuple):
        return found
    server, port, sent = found
    if kernel_view.accept_queue(server) is None:
        return skipped("this system does not say how long an accept queue is, so the check cannot count it")
    for _ in range(BURST):
        client = ctx.own(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
        client.setblocking(False)
        client.connect_ex(("127.0.0.1", port))
    waiting, deadline = 0, time.monotonic() + 1.0
    while time.monotonic() < deadline:
        waiting = kernel_view.accept_queue(server) or 0
        if waiting >= BURST:
            return passed(f"all {BURST} wait in the accept queue")
        time.sleep(0.02)
    return failed(f"only {waiting} of {BURST} clients got into the accept queue", hint="backlog",
                  sent=f"{sent}; then {BURST} clients connect at once, none accepted yet",
                  expected=f"{BURST} waiting (kernel.accept_queue)", got=str(waiting))


@q3.condition("twice", "restarted twice: over a TIME_WAIT of its own socket", graded_only=True)
def _(student, ctx):
    found = _restarted(student, ctx)
    if not isinstance(found, tuple):
        return found
    first, port, sent = found
    client = ctx.own(socket.create_connection(("127.0.0.1", port), timeout=ctx.budget))
    first.settimeout(ctx.budget)
    conn, _ = first.accept()
    conn.close()  # your server closes first: its end of this connection goes to TIME_WAIT
    client.recv(1)
    client.close()
    first.close()
    kernel_view.states(port, until="TIME_WAIT", timeout=1.0)
    outcome, wild, _ = _listener_from(ctx, student, port)
    sent = (f"listen_again({port}) a second time, after a connection the first socket it returned accepted "
            f"and closed went to TIME_WAIT")
    verdict = _judge_listener(outcome, wild, port, sent=sent)
    if verdict is not None and outcome.raised and getattr(outcome.error, "errno", None) == errno.EADDRINUSE:
        return failed("the second restart failed with EADDRINUSE", hint="keep-reuse", sent=sent,
                      expected=f"a listening socket on 127.0.0.1:{port}")
    return verdict or passed("restarted twice")


# ====================================================================================
q4 = Question(CHAPTER, "q4", answer="connect_result", title="Read a non-blocking connect's result",
              section="so-error")

q4.hint("so-error",
        "select() saying 'writable' means the connect attempt has ended, not that it worked. Read how it "
        "ended: sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) gives 0 or the errno, ECONNREFUSED "
        f"for a refusal (connect(2), EINPROGRESS) ({ERROR_SECTION}).")
q4.hint("in-progress",
        "On a non-blocking socket, connect_ex() returns EINPROGRESS: the handshake has only started. That "
        "is not the result; wait for the socket to become writable with select.select([], [sock], [], "
        "timeout), then read SO_ERROR (connect(2)).")
q4.hint("writable",
        "A connect that finishes makes the socket writable, not readable: a server that says nothing never "
        "makes it readable. Wait with select.select([], [sock], [], timeout) (or selectors.EVENT_WRITE).")
q4.hint("non-blocking",
        "Start the connect on a socket in non-blocking mode: sock.setblocking(False), then "
        "sock.connect_ex(address). A blocking connect() waits for the kernel's own patience (over a minute "
        "when SYNs are dropped), and settimeout() makes Python do the waiting for you; the exercise is to do "
        f"it yourself with select() and SO_ERROR ({ERROR_SECTION}).")
q4.hint("pending",
        "When select() returns with nothing writable, the timeout has passed and the handshake is still "
        "pending (a full accept queue drops the SYN): return None, after the whole timeout, not before "
        "it and not long after.")
q4.hint("prompt",
        "Return as soon as select() says the socket is writable: the kernel knows a refusal or a success on "
        "loopback within a millisecond. Do not sleep for the timeout first.")
q4.hint("close",
        "connect_result only reports; close its socket before it returns, whatever the result: "
        "with socket.socket(...) as sock: ... closes it on every path.")
q4.hint("family",
        "An address such as ('::1', port) is IPv6: make the socket with the family that fits it, "
        "socket.AF_INET6 when the host has a ':', or take family from socket.getaddrinfo(host, port).")


def _refused_address(ctx, host: str = "127.0.0.1"):
    """An address where a socket of the check's own is bound but does not listen: a connect there is refused."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = ctx.own(socket.socket(family, socket.SOCK_STREAM))
    sock.bind((host, 0))
    return sock.getsockname()[:2]


def _full_listener(ctx):
    """An address whose listener's accept queue is full, confirmed: a SYN to it is dropped, so connects stay pending."""
    listener = ctx.own(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)  # Linux then queues one finished handshake (listen(2)): the filler's
    address = listener.getsockname()[:2]
    ctx.own(socket.create_connection(address, timeout=ctx.budget))
    deadline = time.monotonic() + 1.0
    while kernel_view.accept_queue(listener) not in (None, 1) and time.monotonic() < deadline:
        time.sleep(0.01)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setblocking(False)
        probe.connect_ex(address)
        _, writable, _ = select.select([], [probe], [], 0.2)
    return address, not writable


def _ask(ctx, student, address, timeout: float):
    """connect_result(address, timeout) with its connects watched: (outcome, notes)."""
    with _watching(ctx, address[1]) as notes:
        outcome = ctx.call(student, address, timeout, budget=timeout + LATE_BY + 1.0)
    return outcome, notes


def _errno_text(value) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and value in errno.errorcode:
        return f"{value} (errno.{errno.errorcode[value]})"
    return text(value)


def _judge_result(outcome, want, *, timeout: float, sent: str, notes, prompt: bool = True):
    """The verdict for a result that should be `want` (0 or an errno), promptly."""
    expected = _errno_text(want) if want else "0"
    connects = [n for n in notes if n[0] == "socket.connect"]
    if outcome.raised:
        error = outcome.error
        if isinstance(error, (socket.timeout, TimeoutError)) or getattr(error, "errno", None) == errno.ECONNREFUSED:
            hint = "non-blocking"
        elif isinstance(error, OSError) and getattr(error, "errno", None) == errno.EAFNOSUPPORT or \
                isinstance(error, socket.gaierror):
            hint = "family"
        else:
            hint = "in-progress"
        return failed(f"connect_result() {outcome.text()}", hint=hint, sent=sent, expected=expected)
    if not outcome.returned:
        return failed(f"connect_result() {outcome.text()}", hint="non-blocking", sent=sent, expected=expected)
    got = outcome.value
    if not connects:
        return failed("connect_result() returned without connecting to that address", hint="in-progress", sent=sent,
                      expected=expected, got=_errno_text(got))
    if got is None:
        return failed(f"connect_result() returned None (still pending) after {outcome.seconds:.2f} s", hint="writable",
                      sent=sent, expected=expected, got="None")
    if got != want or isinstance(got, bool):
        hint = ("in-progress" if got in (errno.EINPROGRESS, errno.EAGAIN, errno.EWOULDBLOCK)
                else "so-error" if got == 0 or want == 0 else "so-error")
        return failed(f"connect_result() returned {_errno_text(got)}", hint=hint, sent=sent, expected=expected,
                      got=_errno_text(got))
    if prompt and outcome.seconds > timeout / 2:
        return failed(f"connect_result() took {outcome.seconds:.2f} s of its {timeout:g} s to say so", hint="prompt",
                      sent=sent, expected=f"{expected} within a few milliseconds", got=f"{outcome.seconds:.2f} s")
    return None


@q4.condition("listening", "a listening server: 0, at once")
def _(student, ctx):
    timeout = round(ctx.rng.uniform(1.5, 3.0), 2) if ctx.graded else 2.0
    listener = ctx.listener()
    address = listener.getsockname()[:2]
    outcome, notes = _ask(ctx, student, address, timeout)
    sent = f"connect_result({address!r}, {timeout:g}) where a server listens"
    return _judge_result(outcome, 0, timeout=timeout, sent=sent, notes=notes) or \
        passed(f"0 after {outcome.seconds * 1000:.1f} ms")


@q4.condition("refused", "a port that is bound but not listening: ECONNREFUSED, at once")
def _(student, ctx):
    timeout = round(ctx.rng.uniform(1.5, 3.0), 2) if ctx.graded else 2.0
    address = _refused_address(ctx)
    outcome, notes = _ask(ctx, student, address, timeout)
    sent = f"connect_result({address!r}, {timeout:g}) where a socket is bound but does not listen"
    return _judge_result(outcome, errno.ECONNREFUSED, timeout=timeout, sent=sent, notes=notes) or \
        passed(f"ECONNREFUSED after {outcome.seconds * 1000:.1f} ms")


@q4.condition("pending", "a listener whose accept queue is full: None, right after the timeout", budget=5.0)
def _(student, ctx):
    timeout = round(ctx.rng.uniform(0.3, 1.0), 2) if ctx.graded else 0.5
    address, confirmed = _full_listener(ctx)
    if not confirmed:
        return skipped("this system answered a connect to a full accept queue at once, so the check cannot make "
                       "a connect that stays pending")
    outcome, notes = _ask(ctx, student, address, timeout)
    sent = (f"connect_result({address!r}, {timeout:g}) where the listener's accept queue is full, so the kernel "
            f"drops the SYN")
    expected = f"None, after {timeout:g} s and before {timeout + LATE_BY:g} s"
    if outcome.raised:
        error = outcome.error
        hint = "non-blocking" if isinstance(error, (socket.timeout, TimeoutError)) else "pending"
        return failed(f"connect_result() {outcome.text()}", hint=hint, sent=sent, expected=expected)
    if not outcome.returned:
        return failed(f"connect_result() {outcome.text()}, long past its timeout of {timeout:g} s",
                      hint="non-blocking", sent=sent, expected=expected)
    got, took = outcome.value, outcome.seconds
    if got is not None:
        hint = "non-blocking" if got in (errno.EAGAIN, errno.EWOULDBLOCK) else "pending"
        return failed(f"connect_result() returned {_errno_text(got)} after {took:.2f} s", hint=hint, sent=sent,
                      expected=expected, got=_errno_text(got))
    if took < 0.9 * timeout:
        return failed(f"connect_result() gave up after {took:.2f} s, before its timeout of {timeout:g} s",
                      hint="pending", sent=sent, expected=expected, got=f"None after {took:.2f} s")
    if took > timeout + LATE_BY:
        return failed(f"connect_result() came back {took - timeout:.2f} s after its timeout", hint="pending",
                      sent=sent, expected=expected, got=f"None after {took:.2f} s")
    return passed(f"None after {took:.2f} s")


@q4.condition("non-blocking", "the connect starts on a non-blocking socket")
def _(student, ctx):
    timeout = 2.0
    address = ctx.listener().getsockname()[:2]
    outcome, notes = _ask(ctx, student, address, timeout)
    sent = f"connect_result({address!r}, {timeout:g}), watching the mode of the socket at connect()"
    connects = [n for n in notes if n[0] == "socket.connect"]
    if outcome.raised or not outcome.returned:
        return failed(f"connect_result() {outcome.text()}", hint="non-blocking", sent=sent,
                      expected="connect_ex() on a socket after setblocking(False)")
    if not connects:
        return failed("connect_result() never called connect() or connect_ex() on that address", hint="in-progress",
                      sent=sent, expected="connect_ex() on a non-blocking socket")
    blocking = [timeout_at for _, _, _, timeout_at in connects if timeout_at != 0.0]
    if blocking:
        mode = "blocking (no timeout)" if blocking[0] is None else f"with a timeout of {blocking[0]:g} s"
        return failed(f"the connect ran on a socket {mode}, not a non-blocking one", hint="non-blocking", sent=sent,
                      expected="sock.gettimeout() == 0.0 at connect time (setblocking(False))", got=mode)
    return passed("non-blocking")


@q4.condition("closed", "no socket of its own left open, after a success and after a refusal")
def _(student, ctx):
    left, sent = [], []
    for address in (ctx.listener().getsockname()[:2], _refused_address(ctx)):
        outcome, notes = _ask(ctx, student, address, 2.0)
        if not outcome.returned:
            return failed(f"connect_result() {outcome.text()}", hint="in-progress",
                          sent=f"connect_result({address!r}, 2)", expected="a result, and the socket closed")
        sent.append(f"connect_result({address!r}, 2)")
        left += _left_open(notes)
    if left:
        return failed(f"connect_result() left {plural(len(left), 'socket')} open", hint="close", sent="; ".join(sent),
                      expected="every socket closed before it returns", got=text(left[0]))
    return passed("closed every time")


@q4.condition("ipv6", "IPv6 (::1): a listening server and a refusing port", graded_only=True)
def _(student, ctx):
    if not ipv6_loopback():
        return skipped("this machine has no IPv6 loopback (::1), so the check cannot run on it")
    listener = ctx.listener("::1")
    for address, want, what in ((listener.getsockname()[:2], 0, "where a server listens"),
                                (_refused_address(ctx, "::1"), errno.ECONNREFUSED, "where nothing listens")):
        outcome, notes = _ask(ctx, student, address, 2.0)
        sent = f"connect_result({address!r}, 2) {what}"
        if outcome.raised:
            return failed(f"connect_result() {outcome.text()}", hint="family", sent=sent, expected=_errno_text(want))
        verdict = _judge_result(outcome, want, timeout=2.0, sent=sent, notes=notes, prompt=False)
        if verdict is not None:
            return verdict
    return passed("0 and ECONNREFUSED over ::1")


QUESTIONS = [q1, q2, q3, q4]


def summary(namespace: dict):
    """The last cell of the homework: every question checked again, one line each."""
    return _summary(QUESTIONS, namespace)
