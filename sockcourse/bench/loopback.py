"""Measurements on this machine: round-trip latency and throughput of UNIX sockets and TCP loopback.

Each measurement opens a fresh connection between this process and a peer
(sockcourse/peers/bench_peer.py) that runs either in a process of its own (the
default: no shared interpreter lock, as between two real programs) or on a
thread here. It measures, closes everything, waits for the peer, and returns
plain numbers: seconds for round trips, bits per second for throughput.
Every run is bounded: counts are capped, every socket wait has a timeout,
and a time limit ends a long run early with what it has measured so far.

Chapter 03 draws these numbers (sockcourse.viz.unix) and prints them with
`table()`; `c_peer` measures the same round trip with C at one end or at
both, and the command line's `bench` (bench/suite.py) runs them all.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import tempfile
import threading
import time

from ..core.checks import check_choice, check_timeout, check_whole
from ..core.errors import ArgumentError, IncompleteMessage, SockcourseError
from ..core.sockets import recv_exactly
from ..peers import bench_peer
from ..peers.process import Peer, command

KINDS = ("tcp", "unix")
PEERS = ("process", "thread")

KiB, MiB = 1 << 10, 1 << 20

#: Caps on what one call may ask for, so a typo cannot start an endless run.
MAX_ROUNDS = 1_000_000
MAX_SIZE = 1 << 20
MAX_TOTAL = 1 << 34
MAX_CHUNK = 1 << 26

#: Seconds any single wait (accept, recv, a peer's exit) may take.
TIMEOUT = 10.0


class BenchError(SockcourseError):
    """A measurement could not finish: the peer failed, closed early, or sent wrong bytes."""


# -- checks of the arguments ---------------------------------------------------
def _check_kind(kind) -> str:
    # 'tcp': TCP over 127.0.0.1; 'unix': a UNIX stream socket.
    return check_choice(kind, "kind", KINDS, example="unix")


def _check_peer(peer) -> str:
    # 'process': a second program, the realistic choice; 'thread': quicker to start.
    return check_choice(peer, "peer", PEERS, example="process")


def _check_whole(value, what: str, low: int, high: int, example: str) -> int:
    return check_whole(value, what, low=low, high=high, hint=f"for example {example}")


# -- the peer, on a thread or in a process ----------------------------------------
class _ThreadPeer:
    def __init__(self, kind: str, address):
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(kind, address),
                                       name="sockcourse-bench-peer", daemon=True)
        self.thread.start()

    def _run(self, kind, address) -> None:
        try:
            bench_peer.run(kind, address)
        except BaseException as exc:  # kept for failure(): a thread must never print
            self.error = exc

    def failure(self, timeout: float) -> str | None:
        """Wait for the peer to end (our side is closed by now); say what went wrong, or None."""
        self.thread.join(timeout)
        if self.thread.is_alive():
            return f"the peer thread was still busy {timeout} s after the connection closed"
        if self.error is not None:
            return f"the peer thread raised {type(self.error).__name__}: {self.error}"
        return None


class _ProcessPeer:
    def __init__(self, kind: str, address):
        where = ["--unix", address] if kind == "unix" else ["--tcp", address[0], str(address[1])]
        # SIGTERM: the peer has no handler for it, so it ends at once even inside a blocking call.
        self.peer = Peer(command("bench_peer", *where), stop_signal=signal.SIGTERM)
        self._why: str | None = None
        self._done = False

    def failure(self, timeout: float) -> str | None:
        """Wait for the peer to end by itself, then stop and close it; say what went wrong, or None."""
        if self._done:
            return self._why
        self._done = True
        try:
            code = self.peer.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            code = None
        self.peer.stop()
        said = self.peer.stderr_text
        if code is None:
            self._why = f"the peer process was still running {timeout} s after the connection closed"
        elif code:
            self._why = f"the peer process ended with exit code {code}" + (f" ({said[-400:]})" if said else "")
        return self._why


def kernel_timeouts(sock: socket.socket, seconds: float) -> None:
    """Make `sock` blocking, with its waits limited by the kernel (SO_RCVTIMEO, SO_SNDTIMEO).

    A Python-level timeout (settimeout) turns every recv() into a poll() and
    then the recv(): one more system call and wake-up per round trip, a few
    microseconds that a comparison with C would count against Python.
    """
    limit = struct.pack("ll", int(seconds), int(seconds % 1 * 1_000_000))  # struct timeval
    try:
        sock.settimeout(None)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, limit)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, limit)
    except OSError:
        sock.settimeout(seconds)  # a platform whose timeval is laid out otherwise: Python's timeout will do


@contextlib.contextmanager
def peer_connection(kind: str, peer: str):
    """A socket connected to a fresh peer; on exit, everything is closed, waited for and removed.

    Also used by bench.c_peer, which hands the socket to a C program that
    times the round trips against this Python peer.
    """
    tempdir = listener = conn = runner = None
    try:
        if kind == "unix":
            tempdir = tempfile.mkdtemp(prefix="sockcourse-")
            address = os.path.join(tempdir, "bench.sock")
            listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            listener.bind(address)
        else:
            listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            listener.bind(("127.0.0.1", 0))
            address = listener.getsockname()
        listener.listen(1)
        listener.settimeout(TIMEOUT)
        runner = (_ProcessPeer if peer == "process" else _ThreadPeer)(kind, address)
        try:
            conn, _ = listener.accept()
        except TimeoutError:
            why = runner.failure(0.5) or "it did not connect"
            raise BenchError(f"The {peer} peer did not connect within {TIMEOUT} s ({why}); "
                             f"run sockcourse/peers/bench_peer.py by hand to see what it does.") from None
        listener.close()
        kernel_timeouts(conn, TIMEOUT)
        if kind == "tcp":
            # Without it, Nagle's algorithm may hold a small message back while an ACK is due.
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            yield conn
        except BlockingIOError:
            # What SO_RCVTIMEO / SO_SNDTIMEO raise when their time is up.
            raise BenchError(f"The {peer} peer neither sent nor took any bytes for {TIMEOUT} s; run "
                             f"sockcourse/peers/bench_peer.py by hand to see what it does.") from None
        conn.close()  # the peer sees the end of the stream and finishes
        why = runner.failure(TIMEOUT)
        if why:
            raise BenchError(f"The measurement finished, but {why}; run sockcourse/peers/bench_peer.py "
                             f"by hand to see what it does.")
    finally:
        for sock in (conn, listener):
            if sock is not None:
                sock.close()
        if runner is not None:
            runner.failure(1.0)  # after an error: our side is closed, so the peer ends soon (or is stopped)
        if tempdir is not None:
            shutil.rmtree(tempdir, ignore_errors=True)


# -- the measurements ----------------------------------------------------------------
def ping_pong_rtt(kind: str = "tcp", *, rounds: int = 1000, size: int = 1, peer: str = "process",
                  warmup: int = 20, time_limit: float | None = 10.0) -> list[float]:
    """Round-trip times in seconds: send `size` bytes, wait until the peer's echo is back, repeat.

    The first `warmup` rounds are not returned (caches, page faults, the
    scheduler getting to know the peer). After `time_limit` seconds the run
    ends early, so the list may be shorter than `rounds` (never empty).
    """
    kind, peer = _check_kind(kind), _check_peer(peer)
    rounds = _check_whole(rounds, "number of rounds", 1, MAX_ROUNDS, "rounds=1000")
    size = _check_whole(size, "message size in bytes", 1, MAX_SIZE, "size=1")
    warmup = _check_whole(warmup, "number of warm-up rounds", 0, MAX_ROUNDS, "warmup=20")
    time_limit = check_timeout(time_limit, "time_limit")
    with peer_connection(kind, peer) as conn:
        conn.sendall(bench_peer.REQUEST.pack(bench_peer.ECHO, size, 0))
        return time_round_trips(conn, rounds=rounds, size=size, warmup=warmup, time_limit=time_limit)


def time_round_trips(conn: socket.socket, *, rounds: int, size: int, warmup: int, time_limit: float | None) -> list[float]:
    """The timing loop of ping_pong_rtt() on a connected socket whose other end echoes.

    The arguments are checked already. bench.c_peer runs the same loop
    against an echo written in C.
    """
    message = bench_peer.pattern(size)[:size]
    buffer = bytearray(size)
    samples: list[float] = []
    clock = time.perf_counter
    deadline = None if time_limit is None else clock() + time_limit
    # Bound methods and a first recv_into() that usually gets it all: the loop's own
    # cost is part of every sample, so it does as little as the C version does.
    send, recv_into = conn.sendall, conn.recv_into
    for number in range(warmup + rounds):
        started = clock()
        send(message)
        got = recv_into(buffer)
        if got < size and (got == 0 or not _recv_rest(conn, buffer, got, size)):
            raise BenchError(f"The peer closed the connection after {number} round trips of {size} bytes; "
                             f"it should echo until we close.")
        elapsed = clock() - started
        if buffer != message:
            raise BenchError(f"Round trip {number} came back changed ({bytes(buffer[:16])!r}... instead "
                             f"of {message[:16]!r}...); the peer is not an echo.")
        if number >= warmup:
            samples.append(elapsed)
        if deadline is not None and not number % 64 and samples and clock() > deadline:
            break
    return samples


def _recv_rest(conn: socket.socket, buffer: bytearray, got: int, size: int) -> bool:
    """Fill buffer[got:size] (the rest of an echo that came in pieces); False if the peer closes first."""
    try:
        buffer[got:size] = recv_exactly(conn, size - got, what="echo", eof_ok=False)
    except IncompleteMessage:
        return False
    return True


def throughput(kind: str = "tcp", *, total_bytes: int = 64 * MiB, chunk: int = 256 * KiB,
               peer: str = "process", verify: bool = False, time_limit: float | None = 30.0) -> float:
    """Bits per second from the peer to us: it sendall()s `total_bytes` in `chunk`-sized calls,
    we recv_into() one preallocated buffer of `chunk` bytes.

    verify=True checks every byte against the peer's pattern (slower, for
    tests). After `time_limit` seconds the run ends early, and the rate is that
    of the bytes received so far.
    """
    kind, peer = _check_kind(kind), _check_peer(peer)
    total_bytes = _check_whole(total_bytes, "total number of bytes", 1, MAX_TOTAL, "total_bytes=64 * 2**20")
    chunk = _check_whole(chunk, "chunk size in bytes", 1, MAX_CHUNK, "chunk=256 * 2**10")
    time_limit = check_timeout(time_limit, "time_limit")
    buffer = bytearray(chunk)
    view = memoryview(buffer)
    expected = memoryview(bench_peer.pattern(chunk)) if verify else None
    clock = time.perf_counter
    with peer_connection(kind, peer) as conn:
        started = clock()
        deadline = None if time_limit is None else started + time_limit
        conn.sendall(bench_peer.REQUEST.pack(bench_peer.SOURCE, total_bytes, chunk))
        received = 0
        while received < total_bytes:
            n = conn.recv_into(view, min(chunk, total_bytes - received))
            if n == 0:
                raise BenchError(f"The peer closed after {received:,} of {total_bytes:,} bytes; "
                                 f"it should send them all.")
            if expected is not None:
                start = received % bench_peer.PERIOD
                if view[:n] != expected[start:start + n]:
                    raise BenchError(f"The bytes at offset {received:,} are not the ones the peer should "
                                     f"send; something between us changed or lost data.")
            received += n
            if deadline is not None and clock() > deadline:
                break
        elapsed = clock() - started
    return received * 8 / elapsed


def compare(kinds=KINDS, *, rounds: int = 2000, size: int = 1, total_bytes: int = 32 * MiB,
            chunk: int = 256 * KiB, repeats: int = 3, peer: str = "process") -> dict:
    """Both measurements for each kind, in one run: {"rtt": {kind: [s, ...]}, "throughput": {kind: [bit/s, ...]}}.

    The throughput runs alternate between the kinds, so that a busy moment of
    the machine falls on both rather than on one.
    """
    kinds = tuple(_check_kind(kind) for kind in ((kinds,) if isinstance(kinds, str) else kinds))
    if not kinds:
        raise ArgumentError("No kinds to compare; pass kinds=('tcp', 'unix').")
    repeats = _check_whole(repeats, "number of repeats", 1, 100, "repeats=3")
    result = {"rtt": {}, "throughput": {kind: [] for kind in kinds}}
    for kind in kinds:
        result["rtt"][kind] = ping_pong_rtt(kind, rounds=rounds, size=size, peer=peer)
    for _ in range(repeats):
        for kind in kinds:
            result["throughput"][kind].append(throughput(kind, total_bytes=total_bytes, chunk=chunk, peer=peer))
    return result


def table(result: dict) -> str:
    """The result of compare() as a small text table: medians, and the spread of round trips."""
    lines = [f"{'kind':<6}{'median RTT':>12}{'99th pct RTT':>14}{'throughput (median)':>22}"]
    for kind in result["rtt"]:
        rtt = sorted(result["rtt"][kind])
        p99 = rtt[min(len(rtt) - 1, int(0.99 * len(rtt)))]
        rate = statistics.median(result["throughput"][kind]) if result["throughput"].get(kind) else float("nan")
        lines.append(f"{kind:<6}{statistics.median(rtt) * 1e6:>9.1f} µs{p99 * 1e6:>11.1f} µs"
                     f"{rate / 1e9:>16.2f} Gbit/s")
    return "\n".join(lines)
