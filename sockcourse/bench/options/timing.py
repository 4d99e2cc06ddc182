"""Options that change time: SO_SNDBUF and SO_RCVBUF (how fast a stream can go), TCP_NODELAY (how long a small write waits).

Buffers. `limits()` reads the system's bounds live from /proc/sys;
`buffer_sizes()` asks a fresh socket for each size and records what Linux
kept: twice the request (socket(7): room for its bookkeeping), never less
than its floor (SOCK_MIN_SNDBUF and SOCK_MIN_RCVBUF, include/net/sock.h),
never more than twice net.core.wmem_max / rmem_max, unless SO_SNDBUFFORCE
(which needs CAP_NET_ADMIN) was used. `buffer_throughput()` streams over a
loopback connection whose two ends were given one buffer size, one size
after another, and records the rate, what the buffers held before and
after (a buffer left alone is autotuned and grows; a set one stays), and
the largest receive window the sender saw announced (TCP_INFO).

Nagle. `write_write_read()` is the classic stall: a client sends a small
header and then a small body in two send() calls and waits for the reply.
With Nagle's algorithm on (the default) the body waits for the ACK of the
header, and the server delays that ACK, hoping to send it with a reply it
cannot write before the body arrives. TCP_NODELAY, or one send() of both
parts, removes the wait. The server is the course's own
`sockcourse.serve(handlers.length_prefixed_echo)`: chapter 01's framing.

`EXPLORE` and `VALUES` are the explorer's: one small experiment per option.
Everything here runs on 127.0.0.1, is bounded in bytes, rounds and time,
and closes what it opens.
"""

from __future__ import annotations

import dataclasses
import errno
import socket
import statistics
import struct
import threading
import time
from typing import Callable

from . import Tried
from ... import servers
from ...core.checks import check_number, check_whole
from ...core.errors import ArgumentError, SockcourseError
from ...core.sockets import recv_exactly
from ...kernel import options, tcpinfo
from ...servers import handlers

KiB, MiB = 1 << 10, 1 << 20

#: The sizes the chapter sweeps: 4 KiB to 4 MiB, a factor of 4 apart (8 KiB for a closer look at the start).
SIZES = (4 * KiB, 8 * KiB, 16 * KiB, 64 * KiB, 256 * KiB, 1 * MiB, 4 * MiB)

#: The path the computed ceiling window / RTT is drawn for: 20 ms, a city or two away.
PATH_RTT = 0.020

#: Linux's numbers for the two options Python's socket module does not name (asm-generic/socket.h).
SO_SNDBUFFORCE, SO_RCVBUFFORCE = 32, 33

#: Caps, so that a typo cannot start an endless run.
MAX_REQUEST = options.C_INT_MAX
MAX_SIZES = 16
MAX_SECONDS = 2.0
MAX_ROUNDS = 200
MAX_PART = 65536

#: Seconds any single wait (accept, recv, a join) may take.
TIMEOUT = 5.0

#: What each send() hands the kernel during a transfer, the same for every buffer size.
CHUNK = 64 * KiB

#: How the client writes its header and body: two send() calls, one send() of both joined, or one sendmsg().
MODES = ("two sends", "one send", "sendmsg")

_PROC = "/proc/sys/net"


class TimingError(SockcourseError):
    """An experiment could not finish: the other end failed, closed early or did not answer in time."""


# -- the system's bounds, read live --------------------------------------------------
@dataclasses.dataclass(frozen=True)
class BufferLimits:
    """The bounds Linux puts on socket buffers, from /proc/sys (None where a file could not be read)."""

    wmem_max: int | None       # net.core.wmem_max: the largest SO_SNDBUF request honoured (then doubled)
    rmem_max: int | None       # net.core.rmem_max: the same for SO_RCVBUF
    wmem_default: int | None   # net.core.wmem_default
    rmem_default: int | None   # net.core.rmem_default
    tcp_wmem: tuple | None     # net.ipv4.tcp_wmem: min, default, max of a TCP send buffer left to the kernel
    tcp_rmem: tuple | None     # net.ipv4.tcp_rmem: the same for receive buffers (autotuning grows up to max)

    def to_dict(self) -> dict:
        return {key: list(value) if isinstance(value, tuple) else value
                for key, value in dataclasses.asdict(self).items()}


def _read_numbers(path: str) -> tuple[int, ...] | None:
    try:
        with open(path, encoding="ascii") as file:
            return tuple(int(word) for word in file.read().split())
    except (OSError, ValueError):
        return None  # not Linux, or a container that hides /proc/sys: the caller says "unknown"


def limits() -> BufferLimits:
    """The buffer bounds of this machine, read now from /proc/sys/net (each one None where unreadable)."""
    def one(name):
        numbers = _read_numbers(f"{_PROC}/core/{name}")
        return numbers[0] if numbers else None
    return BufferLimits(wmem_max=one("wmem_max"), rmem_max=one("rmem_max"), wmem_default=one("wmem_default"),
                        rmem_default=one("rmem_default"), tcp_wmem=_read_numbers(f"{_PROC}/ipv4/tcp_wmem"),
                        tcp_rmem=_read_numbers(f"{_PROC}/ipv4/tcp_rmem"))


# -- what the kernel keeps ------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class BufferSize:
    """One size asked of SO_SNDBUF and SO_RCVBUF on a fresh TCP socket, and what the kernel kept."""

    requested: int
    sndbuf: int            # getsockopt(SO_SNDBUF) after setsockopt(SO_SNDBUF, requested)
    rcvbuf: int            # the same for SO_RCVBUF
    sndbuf_note: str       # why: "doubled", "the floor", "clamped to wmem_max, then doubled"
    rcvbuf_note: str
    forced_sndbuf: int | None  # what SO_SNDBUFFORCE kept, None if the kernel refused it
    forced_errno: str      # "" if SO_SNDBUFFORCE worked, else the errno's name ("EPERM" without CAP_NET_ADMIN)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _why(requested: int, kept: int, ceiling: int | None) -> str:
    """What the kernel did to a request, worked out from the numbers alone."""
    if kept == 2 * requested:
        return "doubled"
    if ceiling is not None and requested > ceiling and kept == 2 * ceiling:
        return "clamped to the maximum, then doubled"
    if kept > 2 * requested:
        return "raised to the floor"
    return "kept as it is"


def _check_request(value, what: str) -> int:
    return check_whole(value, what, low=0, high=MAX_REQUEST,
                       hint=f"for example {what}=4096 (bytes; the kernel doubles it and clamps it)")


def _check_requests(values, what: str) -> list[int]:
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise ArgumentError(f"The {what} must be a list of whole numbers of bytes, such as [1, 4096, 65536], "
                            f"but got {values!r}; pass several sizes in a list, or one in a list of one.")
    values = list(values)
    if not 1 <= len(values) <= MAX_SIZES:
        raise ArgumentError(f"The {what} must hold from 1 to {MAX_SIZES} sizes, but got {len(values)}; "
                            f"for example {what}={list(SIZES)}.")
    return [_check_request(value, "size") for value in values]


def buffer_sizes(requested=(1, 4096, 65536, 100 * MiB)) -> tuple[BufferSize, ...]:
    """Ask a fresh TCP socket for each size, as SO_SNDBUF and as SO_RCVBUF, and read back what Linux kept.

    Each size also tries SO_SNDBUFFORCE (socket(7)), which ignores
    net.core.wmem_max but needs CAP_NET_ADMIN; without it the kernel
    answers EPERM, recorded in `forced_errno`.
    """
    sizes = _check_requests(requested, "requested sizes")
    bounds = limits()
    rows = []
    for size in sizes:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, size)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)
            sndbuf = sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF)
            rcvbuf = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
        forced, forced_errno = None, ""
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.setsockopt(socket.SOL_SOCKET, SO_SNDBUFFORCE, size)
                forced = sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF)
            except OSError as exc:
                forced_errno = errno.errorcode.get(exc.errno, f"errno {exc.errno}")
        rows.append(BufferSize(requested=size, sndbuf=sndbuf, rcvbuf=rcvbuf,
                               sndbuf_note=_why(size, sndbuf, bounds.wmem_max),
                               rcvbuf_note=_why(size, rcvbuf, bounds.rmem_max),
                               forced_sndbuf=forced, forced_errno=forced_errno))
    return tuple(rows)


def floor() -> tuple[int, int]:
    """Linux's smallest send and receive buffers (SOCK_MIN_SNDBUF, SOCK_MIN_RCVBUF): what a request of 1 byte gets."""
    row = buffer_sizes([1])[0]
    return row.sndbuf, row.rcvbuf


# -- throughput against buffer size ------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class ThroughputPoint:
    """One bulk transfer over loopback with both ends' buffers set to `size` (None: left to the kernel)."""

    size: int | None         # bytes asked of SO_SNDBUF and SO_RCVBUF at both ends, before listen()/connect()
    sndbuf_before: int       # the sender's SO_SNDBUF once connected
    rcvbuf_before: int       # the receiver's SO_RCVBUF once connected
    sndbuf_after: int        # the same at the end: larger than before only when autotuning was allowed
    rcvbuf_after: int
    window: int | None       # the largest receive window the sender saw announced (tcpi_snd_wnd), None if unknown
    received: int            # bytes the receiver read
    seconds: float           # from the first send() to the receiver's end of stream

    @property
    def mb_per_s(self) -> float:
        """Megabytes (10**6 bytes) per second, as received."""
        return self.received / self.seconds / 1e6

    @property
    def autotuned(self) -> bool:
        """True if a buffer grew during the transfer: the kernel tuned it (it never does once one is set)."""
        return self.rcvbuf_after > self.rcvbuf_before or self.sndbuf_after > self.sndbuf_before

    def to_dict(self) -> dict:
        return {**dataclasses.asdict(self), "mb_per_s": self.mb_per_s, "autotuned": self.autotuned}


class _Receiver:
    """The receiving end, on a thread: accept one connection, read it to its end, remember when and how much."""

    def __init__(self, listener: socket.socket):
        self.listener = listener
        self.received = 0
        self.ended_at: float | None = None
        self.rcvbuf_before = self.rcvbuf_after = 0
        self.error: BaseException | None = None
        self.ready = threading.Event()
        self.conn: socket.socket | None = None
        self.thread = threading.Thread(target=self._run, name="sockcourse-timing-receiver", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.listener.settimeout(TIMEOUT)
            conn, _ = self.listener.accept()
            self.conn = conn
            with conn:
                conn.settimeout(TIMEOUT)
                self.rcvbuf_before = conn.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
                self.ready.set()
                buffer = bytearray(CHUNK)
                while count := conn.recv_into(buffer):
                    self.received += count
                self.ended_at = time.perf_counter()
                self.rcvbuf_after = conn.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
        except BaseException as exc:  # kept for the caller: a thread never prints
            self.error = exc
        finally:
            self.ready.set()

    def stop(self) -> None:
        """End the thread even if the sender failed half-way: shutdown() wakes a blocked recv()."""
        conn = self.conn
        if conn is not None and self.thread.is_alive():
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # closed already: the thread is ending by itself
        self.thread.join(TIMEOUT)


def _set_buffers(sock: socket.socket, size: int | None) -> None:
    if size is not None:  # both options, visibly: the experiment is about exactly these two calls
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, size)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)


def _send_window(sock: socket.socket) -> int | None:
    if tcpinfo.unavailable():
        return None
    return tcpinfo.tcp_info(sock).snd_wnd  # None on a kernel older than 6.2


def transfer(size: int | None = None, *, seconds: float = 0.15, sender: dict | None = None,
             receiver: dict | None = None) -> ThroughputPoint:
    """Stream to a receiver on this machine for `seconds`, both ends' buffers set to `size` (None: not set).

    `sender` and `receiver` override the buffers of one end, e.g.
    sender={"SO_SNDBUF": 4096}: the options are set by name before connect()
    and listen(), as tcp(7) asks, and `size` is then ignored for that end.
    """
    size = None if size is None else _check_request(size, "size")
    seconds = check_number(seconds, "seconds", above=0, high=MAX_SECONDS, example=0.15)
    sender = _check_ends(sender, "sender")
    receiver = _check_ends(receiver, "receiver")
    listener = client = peer = None
    try:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        _configure(listener, size, receiver)
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        peer = _Receiver(listener)
        client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        _configure(client, size, sender)
        client.settimeout(TIMEOUT)
        client.connect(listener.getsockname())
        if not peer.ready.wait(TIMEOUT) or peer.error is not None:
            raise TimingError(f"The receiving thread did not take the connection within {TIMEOUT} s"
                              + (f": {peer.error}" if peer.error else "") + "; the machine may be very busy.")
        sndbuf_before = client.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF)
        data = memoryview(bytes(CHUNK))
        window, sends = _send_window(client), 0
        started = time.perf_counter()
        deadline = started + seconds
        while time.perf_counter() < deadline:
            client.sendall(data)
            sends += 1
            if sends % 8 == 0 and window is not None:  # a sample now and then: tcp_info costs a system call
                window = max(window, _send_window(client) or 0)
        client.shutdown(socket.SHUT_WR)
        sndbuf_after = client.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF)
        peer.thread.join(TIMEOUT)
        if peer.thread.is_alive() or peer.error is not None or peer.ended_at is None:
            why = f"it raised {type(peer.error).__name__}: {peer.error}" if peer.error else \
                f"it had not read to the end {TIMEOUT} s after the sender finished"
            raise TimingError(f"The receiving thread failed ({why}); run the experiment again.")
        return ThroughputPoint(size=size, sndbuf_before=sndbuf_before, rcvbuf_before=peer.rcvbuf_before,
                               sndbuf_after=sndbuf_after, rcvbuf_after=peer.rcvbuf_after, window=window,
                               received=peer.received, seconds=peer.ended_at - started)
    finally:
        for sock in (client, listener):
            if sock is not None:
                sock.close()
        if peer is not None:
            peer.stop()


_BUFFER_OPTIONS = ("SO_SNDBUF", "SO_RCVBUF")


def _check_ends(settings, what: str) -> dict:
    if settings is None:
        return {}
    if not isinstance(settings, dict) or not all(key in _BUFFER_OPTIONS for key in settings):
        raise ArgumentError(f"The {what} must be a dict of buffer options such as {{'SO_SNDBUF': 4096}}, but got "
                            f"{settings!r}; its keys may be {' and '.join(_BUFFER_OPTIONS)}.")
    return {name: _check_request(value, name) for name, value in settings.items()}


def _configure(sock: socket.socket, size: int | None, settings: dict) -> None:
    if settings:
        for name, value in settings.items():
            options.set(sock, name, value)
    else:
        _set_buffers(sock, size)


def buffer_throughput(sizes=SIZES, *, seconds: float = 0.15, include_default: bool = True
                      ) -> tuple[ThroughputPoint, ...]:
    """`transfer()` for each size (both ends set alike), and first once with the buffers left alone.

    About `seconds` per size: 0.15 s each makes the seven sizes of SIZES
    and the default about 1.2 s in all.
    """
    sizes = _check_requests(sizes, "sizes")
    if not isinstance(include_default, bool):
        raise ArgumentError(f"include_default must be True or False, but got {include_default!r}; "
                            f"for example include_default=True.")
    asked = ([None] if include_default else []) + sizes
    return tuple(transfer(size, seconds=seconds) for size in asked)


def ceiling(window: float, rtt: float = PATH_RTT) -> float:
    """The most a window of `window` bytes can carry over a path of `rtt` seconds: window / RTT, in MB/s.

    Computed, not measured: one window of data per round trip, whatever the
    link's speed (RFC 7323, section 1.1: TCP's performance hangs on rate times delay).
    """
    window = check_number(window, "window", above=0, example=65536)
    rtt = check_number(rtt, "rtt", above=0, high=60, example=PATH_RTT)
    return window / rtt / 1e6


# -- Nagle's algorithm meets the delayed ACK ------------------------------------------------
HEADER = struct.Struct("!I")  # chapter 01's framing: a 4-byte big-endian length, then the body


def _check_nagle_args(nodelay, rounds, mode, body) -> tuple[bool, int, str, bytes]:
    if not isinstance(nodelay, bool):
        raise ArgumentError(f"nodelay must be True (TCP_NODELAY set: Nagle off) or False (the default: Nagle on), "
                            f"but got {nodelay!r}; for example nodelay=True.")
    rounds = check_whole(rounds, "rounds", low=1, high=MAX_ROUNDS,
                         hint="for example rounds=30 (each round can take about 40 ms with Nagle on)")
    if mode not in MODES:
        raise ArgumentError(f"mode must be one of {', '.join(repr(m) for m in MODES)}, but got {mode!r}; "
                            f"for example mode='two sends', the header and the body in two send() calls.")
    if not isinstance(body, (bytes, bytearray)) or not 1 <= len(body) <= MAX_PART:
        raise ArgumentError(f"body must be from 1 to {MAX_PART:,} bytes, but got {body!r:.60}; "
                            f"for example body=b'a small body'.")
    return nodelay, rounds, mode, bytes(body)


def one_round(sock: socket.socket, body: bytes, mode: str = "two sends") -> bytes:
    """Send a header and `body` the way `mode` says, then read the whole reply: one write-write-read."""
    header = HEADER.pack(len(body))
    if mode == "two sends":
        sock.sendall(header)   # a small write ...
        sock.sendall(body)     # ... and another: with Nagle on, it waits for the first one's ACK
    elif mode == "one send":
        sock.sendall(header + body)
    else:
        sock.sendmsg([header, body])  # both buffers in one system call, one segment, no copy to join them
    return recv_exactly(sock, HEADER.size + len(body), what="reply", eof_ok=False)


def _rounds(nodelay: bool, rounds: int, mode: str, body: bytes, time_limit: float) -> tuple[list[float], bool]:
    samples = []
    with servers.serve(handlers.length_prefixed_echo, idle_timeout=TIMEOUT) as server:
        with socket.create_connection(server.address, timeout=TIMEOUT) as sock:
            kept = options.set(sock, "TCP_NODELAY", nodelay)
            deadline = time.perf_counter() + time_limit
            expected = HEADER.pack(len(body)) + body
            for _ in range(rounds):
                started = time.perf_counter()
                reply = one_round(sock, body, mode)
                samples.append(time.perf_counter() - started)
                if reply != expected:
                    raise TimingError(f"The echo server answered {reply[:40]!r} instead of the {len(expected)} "
                                      f"bytes sent; the experiment needs the echo to come back whole.")
                if time.perf_counter() > deadline:
                    break  # a very busy machine: what was measured so far still tells the story
    return samples, kept


def write_write_read(nodelay: bool, rounds: int = 30, mode: str = "two sends", *, body: bytes = b"sixteen bytes..",
                     time_limit: float = 10.0) -> list[float]:
    """Seconds per round of write, write, read with TCP_NODELAY set to `nodelay`, against the course's echo server.

    mode: "two sends" (the stall), "one send" (header and body joined
    first) or "sendmsg" (both buffers in one call). At most `rounds`
    rounds, and no new round after `time_limit` seconds.
    """
    nodelay, rounds, mode, body = _check_nagle_args(nodelay, rounds, mode, body)
    time_limit = check_number(time_limit, "time_limit", above=0, high=60, example=10.0)
    return _rounds(nodelay, rounds, mode, body, time_limit)[0]


def median_ms(samples) -> float:
    """The median of a list of seconds, in milliseconds."""
    if not samples:
        raise ArgumentError("median_ms() needs at least one measured round, but got an empty list; "
                            "measure with write_write_read() first.")
    return statistics.median(samples) * 1000


# -- the explorer's experiments ----------------------------------------------------------
def _explore_nodelay(value) -> Tried:
    if not isinstance(value, bool):
        raise ArgumentError(f"TCP_NODELAY takes True or False, but got {value!r} (type {type(value).__name__}); "
                            f"True turns Nagle's algorithm off, False (the default) leaves it on.")
    samples, kept = _rounds(value, 5, "two sends", b"sixteen bytes..", 1.4)
    median = median_ms(samples)
    how = "off (TCP_NODELAY set)" if value else "on (the default)"
    verdict = ("the body left at once" if median < 10 else
               "the body waited each time for the ACK of the header, which the server delayed")
    return Tried("TCP_NODELAY", value, kept, round(median, 3), "ms per round",
                 f"With Nagle's algorithm {how}, a header and a body in two send() calls and the echo back took "
                 f"{median:.2f} ms per round (median of {len(samples)}): {verdict}.")


def _check_buffer_value(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_REQUEST:
        raise ArgumentError(f"{name} takes a whole number of bytes from 0 to {MAX_REQUEST:,}, but got {value!r}; "
                            f"for example 4096 (Linux doubles it, and clamps it to its floor and ceiling).")
    return value


def _explore_buffer(name: str) -> Callable[[object], Tried]:
    end = "sender" if name == "SO_SNDBUF" else "receiver"

    def explore(value) -> Tried:
        value = _check_buffer_value(name, value)
        point = transfer(seconds=0.1, **{end: {name: value}})
        kept = point.sndbuf_before if name == "SO_SNDBUF" else point.rcvbuf_before
        return Tried(name, value, kept, round(point.mb_per_s, 1), "MB/s",
                     f"Asked for {value:,} byte{'' if value == 1 else 's'}, the kernel kept {kept:,}, and with that {name} on the {end} "
                     f"alone a 0.1 s stream over loopback carried {point.mb_per_s:,.0f} MB/s.")
    return explore


#: For each option this module covers: a small experiment with one value (about a second at most).
EXPLORE: dict[str, Callable[[object], Tried]] = {
    "TCP_NODELAY": _explore_nodelay,
    "SO_SNDBUF": _explore_buffer("SO_SNDBUF"),
    "SO_RCVBUF": _explore_buffer("SO_RCVBUF"),
}

#: The values the explorer offers for each option.
VALUES: dict[str, list] = {
    "TCP_NODELAY": [False, True],
    "SO_SNDBUF": [1, 4096, 65536, 1048576],
    "SO_RCVBUF": [1, 4096, 65536, 1048576],
}
