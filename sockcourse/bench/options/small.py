"""Chapter 07's smaller options, each tried on real loopback sockets and turned into a number.

- SO_RCVTIMEO and SO_SNDTIMEO: how long a blocking recv() or send() waits
  before it fails with EAGAIN (`receive_timeout`, `send_timeout`), and why
  Python's own `settimeout()` is something else (`python_timeout`).
- SO_BROADCAST: a datagram to loopback's broadcast address 127.255.255.255,
  refused without it (`broadcast`); SO_DONTROUTE: a connection on loopback,
  which is directly connected, works with it (`dont_route`).
- Urgent data: one byte sent with MSG_OOB, read apart from the stream or,
  with SO_OOBINLINE, inside it (`urgent`).
- SO_RCVLOWAT: a recv() that waits for that many bytes (`low_water`), and a
  select() that says "readable" only from that many on (`select_readable`).
- SO_SNDLOWAT, which Linux reads but never changes (the explorer's refusal).

The plumbing the chapter's cells share is here too: `pair()` makes a
connected TCP pair on 127.0.0.1, `trickle()` sends a few bytes at a steady
pace from a thread, `queued()` asks the kernel how many bytes wait unread.
None of them sets an option: what an experiment sets, it sets in plain
sight, and every blocking call it makes is bounded by a timeout it set
first (and read back, so a timeout the kernel rounded to "never" is caught).
Results are frozen dataclasses of plain numbers and strings. `EXPLORE` and
`VALUES` are what the chapter's explorer offers for these options.
"""

from __future__ import annotations

import array
import contextlib
import errno
import fcntl
import math
import numbers
import os
import select
import socket
import termios
import threading
import time
from dataclasses import asdict, dataclass

from . import Tried
from ...core.errors import ArgumentError, IncompleteMessage, SockcourseError
from ...core.sockets import recv_exactly
from ...kernel import options

__all__ = ["BROADCAST", "Broadcast", "DontRoute", "EXPLORE", "LowWater", "PythonTimeout", "ReceiveTimeout",
           "SendTimeout", "SmallExperimentError", "Trickle", "Urgent", "VALUES", "broadcast", "dont_route",
           "low_water", "pair", "python_timeout", "queued", "receive_timeout", "select_readable", "send_timeout",
           "trickle", "urgent", "wait_queued"]

HOST = "127.0.0.1"

#: The broadcast address of the loopback network 127.0.0.0/8. Linux's local
#: routing table has "broadcast 127.255.255.255 dev lo", so a datagram sent
#: there goes to the loopback interface and never leaves the machine.
BROADCAST = "127.255.255.255"

#: Seconds any safety wait may take (a connect, an accept, a select, a join).
TIMEOUT = 5.0

#: The timeouts these functions accept, in seconds. The lower bound is 1 ms:
#: a smaller struct timeval may round to zero, and zero means "never time out".
MIN_SECONDS = 0.001
MAX_SECONDS = 5.0

#: The explorer runs each experiment in about a second at most: SO_RCVTIMEO
#: waits once, SO_SNDTIMEO about three times on loopback (two sends that take
#: part of their chunk, then the one that fails; see send_timeout()).
EXPLORE_MAX_RCVTIMEO = 1.0
EXPLORE_MAX_SNDTIMEO = 0.3

#: What send_timeout() hands to one send(), and how many sends it makes at most
#: (64 MiB in all, far more than loopback's buffers hold: they take about 4 MiB).
SEND_CHUNK = 1 << 20
MAX_SEND_CALLS = 64

#: The bytes urgent() sends: the stream around the one urgent byte.
BEFORE, URGENT, AFTER = b"abc", b"!", b"def"

#: low_water()'s sender: this many bytes at a time, with this pause before each.
TRICKLE_CHUNK = b"1234"
TRICKLE_EVERY = 0.05
#: SO_RCVLOWAT values low_water() accepts: above this, the trickle would take too long.
MAX_LOWAT = 64
#: The SO_RCVTIMEO low_water() sets as its safety net, in seconds.
LOWAT_SAFETY = 2.0


class SmallExperimentError(SockcourseError):
    """An experiment of this module could not finish as set up; the message says which step failed."""


def _errno_name(code: int | None) -> str:
    if not code:
        return "0"
    return errno.errorcode.get(code, f"errno {code}")


# -- the checks of values -------------------------------------------------------------
def _check_flag(option: str, value, where: str) -> bool:
    if isinstance(value, bool) or (isinstance(value, numbers.Integral) and value in (0, 1)):
        return bool(value)
    raise ArgumentError(f"{option} is on or off, so {where} takes True or False (or 1 or 0), but got {value!r}; "
                        f"for example True.")


def _check_seconds(option: str, value, high: float, where: str) -> float:
    wrong = isinstance(value, bool) or not isinstance(value, numbers.Real)
    if wrong or not math.isfinite(value) or not MIN_SECONDS <= value <= high:
        never = (" 0 would mean no timeout at all, so the call could wait for ever;" if not wrong and value == 0
                 else "")
        raise ArgumentError(f"{option} is a timeout, and {where} takes a number of seconds from {MIN_SECONDS} to "
                            f"{high}, but got {value!r};{never} for example 0.2.")
    return float(value)


def _check_lowat(value, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not 0 <= value <= MAX_LOWAT:
        raise ArgumentError(f"SO_RCVLOWAT is a number of bytes, and {where} takes a whole number from 0 to "
                            f"{MAX_LOWAT}, but got {value!r}; for example 10 (the sender sends "
                            f"{len(TRICKLE_CHUNK)} bytes every {TRICKLE_EVERY * 1000:g} ms).")
    return int(value)


def _set_timeout(sock: socket.socket, option: str, seconds: float) -> float:
    """Set SO_RCVTIMEO or SO_SNDTIMEO and return what the kernel kept (options.set refuses what would be 0)."""
    return options.set(sock, option, seconds)


# -- the plumbing the cells share ----------------------------------------------------------
@contextlib.contextmanager
def pair():
    """A connected TCP pair on 127.0.0.1, as (client, server); both are closed when the block ends.

    Both ends are blocking with no Python timeout (settimeout(None)) and no
    option set, so what a cell sets is all there is: a cell that blocks in
    recv() or send() on them sets SO_RCVTIMEO or SO_SNDTIMEO first.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.settimeout(TIMEOUT)  # accept() gives up rather than hang
        listener.bind((HOST, 0))
        listener.listen(1)
        client = socket.create_connection(listener.getsockname(), timeout=TIMEOUT)
        try:
            server, _ = listener.accept()
        except BaseException:
            client.close()
            raise
    with client, server:
        client.settimeout(None)
        server.settimeout(None)
        yield client, server


def queued(sock: socket.socket) -> int:
    """How many received bytes wait unread in `sock`'s kernel queue (the FIONREAD ioctl; tcp(7) calls it SIOCINQ)."""
    count = array.array("i", [0])
    fcntl.ioctl(sock.fileno(), termios.FIONREAD, count)
    return count[0]


def wait_queued(sock: socket.socket, size: int, timeout: float = 2.0) -> int:
    """Wait until at least `size` bytes are queued on `sock` (or `timeout` passes); return how many are."""
    deadline = time.monotonic() + timeout
    while (count := queued(sock)) < size and time.monotonic() < deadline:
        time.sleep(0.001)
    return count


class Trickle:
    """A thread that sends `chunk` on `sock` `count` times, pausing `every` seconds before each send.

    Use it with `with`: the block's end stops the thread and joins it. The
    thread never prints; an error it met is kept in `error`. `sent_at` holds
    the monotonic time at which each send returned (a receiver may have the
    bytes a moment before the thread writes that time down).
    """

    def __init__(self, sock: socket.socket, chunk: bytes = TRICKLE_CHUNK, every: float = TRICKLE_EVERY,
                 count: int = 10):
        if not isinstance(sock, socket.socket) or sock.fileno() == -1:
            raise ArgumentError(f"trickle() sends on an open socket.socket, but got {sock!r}; "
                                f"for example trickle(client) inside `with small.pair() as (client, server)`.")
        if not isinstance(chunk, bytes) or not 1 <= len(chunk) <= 1024:
            raise ArgumentError(f"trickle() sends a chunk of 1 to 1,024 bytes, but got {chunk!r}; "
                                f"for example chunk=b'1234'.")
        if isinstance(every, bool) or not isinstance(every, numbers.Real) or not 0.001 <= every <= 1.0:
            raise ArgumentError(f"trickle() pauses 0.001 to 1 s before each send, but got every={every!r}; "
                                f"for example every=0.05.")
        self.every = float(every)
        if isinstance(count, bool) or not isinstance(count, numbers.Integral) or not 1 <= count <= 100:
            raise ArgumentError(f"trickle() sends 1 to 100 times, but got count={count!r}; for example count=10.")
        self.sock, self.chunk, self.count = sock, chunk, int(count)
        self.sent_at: list[float] = []
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sockcourse-trickle", daemon=True)

    def _run(self) -> None:
        try:
            for _ in range(self.count):
                if self._stop.wait(self.every):
                    return
                self.sock.sendall(self.chunk)
                self.sent_at.append(time.monotonic())
        except BaseException as exc:  # kept for the caller: a thread must never print
            self.error = exc

    def __enter__(self) -> "Trickle":
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join(TIMEOUT)
        if self._thread.is_alive():
            raise SmallExperimentError(f"The trickle thread was still sending {TIMEOUT} s after it was told to stop.")

    @property
    def sent(self) -> int:
        """Bytes sent so far."""
        return len(self.sent_at) * len(self.chunk)


def trickle(sock: socket.socket, chunk: bytes = TRICKLE_CHUNK, every: float = TRICKLE_EVERY,
            count: int = 10) -> Trickle:
    """A Trickle: `count` sends of `chunk` on `sock` from a thread, one every `every` seconds."""
    return Trickle(sock, chunk, every, count)


# -- SO_RCVTIMEO and SO_SNDTIMEO ------------------------------------------------------------
@dataclass(frozen=True)
class ReceiveTimeout:
    """A blocking recv() on a connection where nothing comes, with SO_RCVTIMEO set."""

    seconds: float     # the SO_RCVTIMEO asked for
    readback: float    # what the kernel kept (it counts in clock ticks)
    waited: float      # how long recv() blocked before it failed
    error: str         # the errno name: "EAGAIN"
    exception: str     # what Python raised: "BlockingIOError"

    def to_dict(self) -> dict:
        return asdict(self)


def receive_timeout(seconds: float = 0.2) -> ReceiveTimeout:
    """Block in recv() on a connection whose peer sends nothing, with SO_RCVTIMEO = `seconds`; time the failure."""
    seconds = _check_seconds("SO_RCVTIMEO", seconds, MAX_SECONDS, "receive_timeout()")
    with pair() as (_client, server):
        kept = _set_timeout(server, "SO_RCVTIMEO", seconds)
        start = time.monotonic()
        try:
            data = server.recv(100)
        except OSError as exc:
            return ReceiveTimeout(seconds, kept, time.monotonic() - start, _errno_name(exc.errno),
                                  type(exc).__name__)
    raise SmallExperimentError(f"recv() returned {data!r} although the peer sent nothing; the experiment expected "
                               f"it to time out.")


@dataclass(frozen=True)
class SendTimeout:
    """send() after send() into a connection whose peer never reads, with SO_SNDTIMEO set."""

    seconds: float                          # the SO_SNDTIMEO asked for
    readback: float                         # what the kernel kept
    chunk: int                              # bytes handed to each send()
    calls: tuple[tuple[int, float], ...]    # each send() that returned: (bytes it took, seconds it took)
    accepted: int                           # bytes the kernel took in all, before the failure
    waited: float                           # how long the failing send() blocked
    error: str                              # its errno name: "EAGAIN"
    exception: str                          # what Python raised: "BlockingIOError"

    @property
    def partial(self) -> int:
        """How many send() calls took only part of their chunk (each after waiting out the timeout)."""
        return sum(1 for taken, _ in self.calls if taken < self.chunk)

    def to_dict(self) -> dict:
        return {**asdict(self), "calls": [list(call) for call in self.calls], "partial": self.partial}


def send_timeout(seconds: float = 0.2) -> SendTimeout:
    """Send 1 MiB at a time to a peer that never reads, with SO_SNDTIMEO = `seconds`, until a send() fails.

    Once the buffers are full, a send() waits up to `seconds` for room: if the
    kernel took some bytes by then, it returns their count; if none, it fails
    with EAGAIN (socket(7)). At most MAX_SEND_CALLS sends are made.
    """
    seconds = _check_seconds("SO_SNDTIMEO", seconds, MAX_SECONDS, "send_timeout()")
    chunk = memoryview(bytes(SEND_CHUNK))
    calls = []
    with pair() as (client, _server):  # the server never reads
        kept = _set_timeout(client, "SO_SNDTIMEO", seconds)
        for _ in range(MAX_SEND_CALLS):
            start = time.monotonic()
            try:
                taken = client.send(chunk)
            except OSError as exc:
                return SendTimeout(seconds, kept, SEND_CHUNK, tuple(calls), sum(t for t, _ in calls),
                                   time.monotonic() - start, _errno_name(exc.errno), type(exc).__name__)
            calls.append((taken, time.monotonic() - start))
    raise SmallExperimentError(f"The kernel took {sum(t for t, _ in calls):,} bytes in {MAX_SEND_CALLS} sends and "
                               f"never ran out of room; the experiment expected the buffers to fill long before.")


@dataclass(frozen=True)
class PythonTimeout:
    """Python's own settimeout(): what the socket options say meanwhile, and what a recv() raises."""

    seconds: float       # the settimeout() asked for
    rcvtimeo: float      # SO_RCVTIMEO read after settimeout(): Python does not use it
    sndtimeo: float      # SO_SNDTIMEO read after settimeout()
    nonblocking: bool    # the descriptor's O_NONBLOCK flag: Python polls instead of blocking
    waited: float        # how long recv() took to fail
    exception: str       # what it raised: "TimeoutError"
    errno: str           # the errno it carries ("0": none; no system call failed)

    def to_dict(self) -> dict:
        return asdict(self)


def python_timeout(seconds: float = 0.2) -> PythonTimeout:
    """recv() on a silent connection after settimeout(`seconds`); read both socket options and O_NONBLOCK too."""
    seconds = _check_seconds("The timeout", seconds, MAX_SECONDS, "python_timeout()")
    with pair() as (_client, server):
        server.settimeout(seconds)
        rcvtimeo, sndtimeo = options.get(server, "SO_RCVTIMEO"), options.get(server, "SO_SNDTIMEO")
        nonblocking = bool(fcntl.fcntl(server.fileno(), fcntl.F_GETFL) & os.O_NONBLOCK)
        start = time.monotonic()
        try:
            data = server.recv(100)
        except OSError as exc:
            return PythonTimeout(seconds, rcvtimeo, sndtimeo, nonblocking, time.monotonic() - start,
                                 type(exc).__name__, _errno_name(exc.errno))
    raise SmallExperimentError(f"recv() returned {data!r} although the peer sent nothing; the experiment expected "
                               f"it to time out.")


# -- SO_BROADCAST and SO_DONTROUTE ----------------------------------------------------------
@dataclass(frozen=True)
class Broadcast:
    """One datagram to 127.255.255.255, with or without SO_BROADCAST on the sender."""

    on: bool           # SO_BROADCAST was set on the sender
    readback: bool     # what the kernel said it holds
    sendto: str        # "sent", or the errno name sendto() failed with ("EACCES")
    exception: str     # what Python raised ("PermissionError"), or ""
    received: bytes    # what the receiver bound to the broadcast address got (b"" if nothing)

    def to_dict(self) -> dict:
        return {**asdict(self), "received": self.received.decode("ascii", "replace")}


def broadcast(on: bool) -> Broadcast:
    """Send one datagram to loopback's broadcast address, SO_BROADCAST set to `on`; see who gets it.

    The receiver binds 127.255.255.255 itself (never 0.0.0.0, which would
    listen on every network of the machine), as chapter 02 does.
    """
    on = _check_flag("SO_BROADCAST", on, "broadcast()")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as receiver, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        receiver.settimeout(TIMEOUT)
        try:
            receiver.bind((BROADCAST, 0))
        except OSError as exc:
            raise SmallExperimentError(f"This system has no loopback broadcast address {BROADCAST} to bind "
                                       f"({_errno_name(exc.errno)}: {exc.strerror}); Linux has one, macOS does "
                                       f"not.") from None
        readback = options.set(sender, "SO_BROADCAST", on)
        try:
            sender.sendto(b"hello, everyone", receiver.getsockname())
        except OSError as exc:
            return Broadcast(on, readback, _errno_name(exc.errno), type(exc).__name__, b"")
        try:
            data, _ = receiver.recvfrom(2048)
        except TimeoutError:
            data = b""
    return Broadcast(on, readback, "sent", "", data)


@dataclass(frozen=True)
class DontRoute:
    """A TCP connection on loopback from a socket with or without SO_DONTROUTE."""

    on: bool          # SO_DONTROUTE was set before connect()
    readback: bool
    connected: str    # "connected", or the errno name connect() failed with
    delivered: int    # bytes the server read of the 4 the client sent

    def to_dict(self) -> dict:
        return asdict(self)


def dont_route(on: bool) -> DontRoute:
    """Connect to a listener on 127.0.0.1 with SO_DONTROUTE = `on`, send b'ping', count what arrives."""
    on = _check_flag("SO_DONTROUTE", on, "dont_route()")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener, \
            socket.socket(socket.AF_INET, socket.SOCK_STREAM) as client:
        listener.settimeout(TIMEOUT)
        listener.bind((HOST, 0))
        listener.listen(1)
        readback = options.set(client, "SO_DONTROUTE", on)  # before connect(): the SYN goes out with it too
        client.settimeout(TIMEOUT)
        try:
            client.connect(listener.getsockname())
        except OSError as exc:
            return DontRoute(on, readback, _errno_name(exc.errno), 0)
        client.sendall(b"ping")
        server, _ = listener.accept()
        with server:
            server.settimeout(TIMEOUT)
            got = recv_exactly(server, 4)
    return DontRoute(on, readback, "connected", len(got))


# -- urgent data: MSG_OOB and SO_OOBINLINE --------------------------------------------------
@dataclass(frozen=True)
class Urgent:
    """b'abc', one urgent byte b'!' sent with MSG_OOB, then b'def': what the receiver finds where."""

    inline: bool         # SO_OOBINLINE was set on the receiver
    readback: bool       # what the kernel said SO_OOBINLINE holds
    exceptional: bool    # select() put the receiver in its "exceptional" set: urgent data was pending
    oob: bytes | None    # what recv(1, MSG_OOB) returned (None if it failed)
    oob_error: str       # the errno name recv(1, MSG_OOB) failed with ("EINVAL"), or ""
    first_read: bytes    # what the first plain recv() returned: it stops at the urgent mark
    stream: bytes        # everything the plain recv() calls read

    def to_dict(self) -> dict:
        return {key: value.decode("ascii", "replace") if isinstance(value, bytes) else value
                for key, value in asdict(self).items()}


def urgent(inline: bool = False) -> Urgent:
    """Send b'abc', b'!' with MSG_OOB and b'def'; read the urgent byte with MSG_OOB, then the stream.

    The receiver waits (at most TIMEOUT seconds) until select() reports the
    urgent data, so the answer does not depend on how fast the bytes travel.
    """
    inline = _check_flag("SO_OOBINLINE", inline, "urgent()")
    expected = len(BEFORE + AFTER) + (len(URGENT) if inline else 0)
    with pair() as (client, server):
        if inline:
            server.setsockopt(socket.SOL_SOCKET, socket.SO_OOBINLINE, 1)
        readback = options.get(server, "SO_OOBINLINE")
        client.send(BEFORE)
        client.send(URGENT, socket.MSG_OOB)
        client.send(AFTER)
        _, _, pending = select.select([], [], [server], TIMEOUT)
        try:
            oob, oob_error = server.recv(1, socket.MSG_OOB), ""
        except OSError as exc:
            oob, oob_error = None, _errno_name(exc.errno)
        server.settimeout(TIMEOUT)
        try:
            first = server.recv(100)
            stream = first + recv_exactly(server, expected - len(first), what="rest of the stream")
        except (TimeoutError, IncompleteMessage) as exc:
            raise SmallExperimentError(f"The receiver expected {expected} bytes in its stream but could not read "
                                       f"them all within {TIMEOUT} s ({exc}).") from None
    return Urgent(inline, readback, bool(pending), oob, oob_error, first, stream)


# -- SO_RCVLOWAT ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class LowWater:
    """The first blocking recv(100) while the peer sends 4 bytes every 50 ms, with SO_RCVLOWAT set."""

    lowat: int           # the SO_RCVLOWAT asked for
    readback: int        # what the kernel kept (0 becomes 1)
    chunk: int           # bytes the peer sends at a time
    every: float         # seconds between its sends
    first_bytes: int     # bytes the first recv() returned
    waited: float        # seconds the first recv() blocked

    def to_dict(self) -> dict:
        return asdict(self)


def low_water(lowat: int = 10) -> LowWater:
    """Block in recv(100) with SO_RCVLOWAT = `lowat` while the peer trickles 4 bytes every 50 ms.

    SO_RCVTIMEO (LOWAT_SAFETY seconds) bounds the wait; the peer sends enough
    to pass the mark, plus one chunk.
    """
    lowat = _check_lowat(lowat, "low_water()")
    count = max(1, math.ceil(lowat / len(TRICKLE_CHUNK))) + 1
    with pair() as (client, server):
        _set_timeout(server, "SO_RCVTIMEO", LOWAT_SAFETY)
        kept = options.set(server, "SO_RCVLOWAT", lowat)
        with trickle(client, TRICKLE_CHUNK, TRICKLE_EVERY, count) as sender:
            start = time.monotonic()
            try:
                data = server.recv(100)
            except BlockingIOError:
                raise SmallExperimentError(f"recv() with SO_RCVLOWAT = {lowat} still had too few bytes after "
                                           f"{LOWAT_SAFETY} s; the peer had sent {sender.sent}.") from None
            waited = time.monotonic() - start
        if sender.error is not None:
            raise SmallExperimentError(f"The sending thread failed: {sender.error}.")
    return LowWater(lowat, kept, len(TRICKLE_CHUNK), TRICKLE_EVERY, len(data), waited)


def select_readable(lowat: int = 10, sizes=(4, 8)) -> tuple[tuple[int, bool], ...]:
    """Send `sizes` bytes one batch after another; after each, ask select() if the receiver is readable.

    Returns (bytes queued, readable) per batch: with SO_RCVLOWAT = `lowat`,
    select() says readable only once `lowat` bytes wait (socket(7), Linux 2.6.28
    and later). Each batch is waited for with FIONREAD, so nothing races.
    """
    lowat = _check_lowat(lowat, "select_readable()")
    if not isinstance(sizes, (tuple, list)) or not 1 <= len(sizes) <= 10 or not all(
            isinstance(n, numbers.Integral) and not isinstance(n, bool) and 1 <= n <= 4096 for n in sizes):
        raise ArgumentError(f"select_readable() takes up to 10 batch sizes of 1 to 4,096 bytes, but got "
                            f"sizes={sizes!r}; for example sizes=(4, 8).")
    rows, total = [], 0
    with pair() as (client, server):
        options.set(server, "SO_RCVLOWAT", lowat)
        for size in sizes:
            client.sendall(b"x" * size)
            total += size
            if wait_queued(server, total) < total:
                raise SmallExperimentError(f"{total} bytes were sent but fewer arrived within 2 s.")
            readable, _, _ = select.select([server], [], [], 0)
            rows.append((queued(server), bool(readable)))
    return tuple(rows)


# -- the explorer's experiments --------------------------------------------------------------
def _explore_rcvtimeo(value) -> Tried:
    seconds = _check_seconds("SO_RCVTIMEO", value, EXPLORE_MAX_RCVTIMEO, "the explorer")
    result = receive_timeout(seconds)
    return Tried("SO_RCVTIMEO", value, result.readback, round(result.waited, 3), "seconds recv() waited",
                 f"With SO_RCVTIMEO at {result.readback:g} s, recv() on a connection where nothing comes gave up "
                 f"after {result.waited:.3f} s with {result.error}, which Python raises as {result.exception}.")


def _explore_sndtimeo(value) -> Tried:
    seconds = _check_seconds("SO_SNDTIMEO", value, EXPLORE_MAX_SNDTIMEO, "the explorer")
    result = send_timeout(seconds)
    return Tried("SO_SNDTIMEO", value, result.readback, round(result.waited, 3), "seconds the failing send() waited",
                 f"With SO_SNDTIMEO at {result.readback:g} s and a peer that never reads, the kernel took "
                 f"{result.accepted:,} bytes ({result.partial} send() calls returned part of their chunk after "
                 f"waiting), then a send() gave up after {result.waited:.3f} s with {result.error}.")


def _explore_oobinline(value) -> Tried:
    inline = _check_flag("SO_OOBINLINE", value, "the explorer")
    result = urgent(inline)
    oob = f"returned {result.oob!r}" if result.oob is not None else f"failed with {result.oob_error}"
    return Tried("SO_OOBINLINE", value, result.readback, len(result.stream), "bytes in the normal stream",
                 f"With SO_OOBINLINE {'on' if inline else 'off'}, the stream read {result.stream!r} "
                 f"({len(result.stream)} bytes) and recv(1, MSG_OOB) {oob}.")


def _explore_rcvlowat(value) -> Tried:
    lowat = _check_lowat(value, "the explorer")
    result = low_water(lowat)
    return Tried("SO_RCVLOWAT", value, result.readback, result.first_bytes, "bytes the first recv(100) returned",
                 f"With SO_RCVLOWAT at {result.readback} and a peer sending {result.chunk} bytes every "
                 f"{result.every * 1000:g} ms, the first recv(100) waited {result.waited:.3f} s and returned "
                 f"{result.first_bytes} bytes.")


def _explore_broadcast(value) -> Tried:
    on = _check_flag("SO_BROADCAST", value, "the explorer")
    try:
        result = broadcast(on)
    except SmallExperimentError as exc:
        return Tried("SO_BROADCAST", value, None, None, "datagrams received", str(exc))
    if result.sendto == "sent":
        sentence = (f"With SO_BROADCAST on, sendto({BROADCAST}) went out and the receiver bound to that address got "
                    f"{result.received!r}.")
    else:
        sentence = (f"With SO_BROADCAST off, sendto({BROADCAST}) failed with {result.sendto} ({result.exception}): "
                    f"the kernel's safety catch against broadcasting by mistake.")
    return Tried("SO_BROADCAST", value, result.readback, 1 if result.received else 0, "datagrams received", sentence)


def _explore_dontroute(value) -> Tried:
    on = _check_flag("SO_DONTROUTE", value, "the explorer")
    result = dont_route(on)
    return Tried("SO_DONTROUTE", value, result.readback, result.delivered, "bytes delivered (of 4)",
                 f"With SO_DONTROUTE {'on' if on else 'off'}, a connection to 127.0.0.1 was {result.connected} and "
                 f"delivered {result.delivered} of 4 bytes: loopback is directly connected, so skipping the "
                 f"routing table changes nothing here.")


def _explore_sndlowat(value) -> Tried:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not 0 <= value <= options.C_INT_MAX:
        raise ArgumentError(f"SO_SNDLOWAT is a number of bytes, and the explorer takes a whole number from 0 to "
                            f"{options.C_INT_MAX:,}, but got {value!r}; for example 100.")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        held = options.get(sock, "SO_SNDLOWAT")
        try:
            kept = options.set(sock, "SO_SNDLOWAT", int(value))
        except options.OptionRefused as exc:
            return Tried("SO_SNDLOWAT", value, held, None, "",
                         f"{options.system()} refused setsockopt(SO_SNDLOWAT, {value}) with "
                         f"{_errno_name(exc.errno)} ({exc.strerror}): the option can be read (it holds {held}) "
                         f"but never changed, as socket(7) says.")
    return Tried("SO_SNDLOWAT", value, kept, kept, "bytes",
                 f"{options.system()} took SO_SNDLOWAT = {value} and kept {kept}.")


#: For each option of this module, one small experiment taking one value (SO_TYPE can only be read: not here).
EXPLORE = {"SO_RCVTIMEO": _explore_rcvtimeo, "SO_SNDTIMEO": _explore_sndtimeo, "SO_BROADCAST": _explore_broadcast,
           "SO_DONTROUTE": _explore_dontroute, "SO_OOBINLINE": _explore_oobinline,
           "SO_RCVLOWAT": _explore_rcvlowat, "SO_SNDLOWAT": _explore_sndlowat}

#: The values the explorer offers for each option of EXPLORE.
VALUES = {"SO_RCVTIMEO": [0.05, 0.2, 0.5, 1.0], "SO_SNDTIMEO": [0.05, 0.1, 0.2, 0.3],
          "SO_BROADCAST": [False, True], "SO_DONTROUTE": [False, True], "SO_OOBINLINE": [False, True],
          "SO_RCVLOWAT": [1, 4, 10, 20, 40], "SO_SNDLOWAT": [1, 100, 4096]}
