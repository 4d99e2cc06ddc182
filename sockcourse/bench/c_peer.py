"""The round trip of `ping_pong_rtt`, with C at both ends or at one: what the same loop costs without Python.

`c_ping_pong()` builds `peers/src/c/pingpong.c` with this machine's C
compiler (peers.toolchains, in a private temporary folder that is removed
afterwards), runs it, and returns its round-trip times in seconds, the same
shape as `sockcourse.bench.ping_pong_rtt()`. The program forks its own echo
peer, so both ends are C.

`round_trips(client, server)` mixes the two languages, to show where
Python's time goes: a Python client timing a C echo peer, or a C client
timing the Python echo peer (`peers/bench_peer.py`). The socket is made and
connected here, then passed on to the C program (it inherits the
descriptor), so all four pairings run the very same exchange over the very
same kind of connection.

`pairing(client, server)` keeps one such connection open and times its
round trips a block at a time, on request. With several open at once, a
measurement can take turns between them every few milliseconds, so that a
block of Python round trips and a block of C ones meet the machine in the
same state (bench.suite does this): a machine's speed can change within tens
of milliseconds, too fast for two runs one after the other to see alike.
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys

from ..core.binding import open_socket
from ..core.checks import check_choice, check_timeout, check_whole
from ..core.errors import IncompleteMessage
from ..core.sockets import recv_exactly
from ..peers import bench_peer, toolchains
from ..peers.process import end_process
from .loopback import TIMEOUT, BenchError, kernel_timeouts, peer_connection, ping_pong_rtt, time_round_trips

__all__ = ["LANGUAGES", "MAX_BLOCK", "MAX_COUNT", "RUN_TIMEOUT", "Pairing", "c_ping_pong", "pairing", "round_trips"]

#: Seconds one measurement may take.
RUN_TIMEOUT = 120.0

#: The largest number of rounds (and of warm-up rounds, and of bytes) pingpong.c takes.
MAX_COUNT = 1_000_000

#: Who may time the round trips (the client) and who may echo them (the server).
LANGUAGES = ("python", "c")

#: The most round trips one block of a Pairing may ask for (pingpong.c's MAX_BLOCK).
MAX_BLOCK = 100_000


def c_ping_pong(kind: str = "tcp", *, rounds: int = 10000, warmup: int = 20, size: int = 1,
                program: str | None = None) -> list[float]:
    """Round-trip times in seconds, measured by pingpong.c (built here unless `program` is given).

    kind: "tcp" (127.0.0.1, TCP_NODELAY) or "unix" (a UNIX stream socket).
    Raises BuildError when there is no C compiler or it refuses the source.
    """
    kind, rounds, warmup, size = _checked(kind, rounds, warmup, size)
    if program is None:
        with toolchains.built("pingpong") as path:
            return c_ping_pong(kind, rounds=rounds, warmup=warmup, size=size, program=path)
    return _run_c_client(program, rounds, warmup, size, *(["--unix"] if kind == "unix" else []))


def round_trips(client: str = "python", server: str = "c", kind: str = "tcp", *, rounds: int = 10000,
                warmup: int = 20, size: int = 1, program: str | None = None,
                time_limit: float | None = 10.0) -> list[float]:
    """Round-trip times in seconds, with `client` ("python" or "c") timing and `server` echoing.

    Python with Python is `ping_pong_rtt(kind, peer="process")`, C with C is
    `c_ping_pong(kind)`; the two mixed pairings show which side of a Python
    round trip costs what. time_limit ends a Python client's run early, as in
    ping_pong_rtt() (a C client is bounded by its rounds and RUN_TIMEOUT).
    """
    client = check_choice(client, "client", LANGUAGES, example="python")
    server = check_choice(server, "server", LANGUAGES, example="c")
    kind, rounds, warmup, size = _checked(kind, rounds, warmup, size)
    time_limit = check_timeout(time_limit, "time_limit")
    if client == server == "python":
        return ping_pong_rtt(kind, rounds=rounds, warmup=warmup, size=size, time_limit=time_limit)
    if program is None:
        with toolchains.built("pingpong") as path:
            return round_trips(client, server, kind, rounds=rounds, warmup=warmup, size=size, program=path,
                               time_limit=time_limit)
    if client == server == "c":
        return c_ping_pong(kind, rounds=rounds, warmup=warmup, size=size, program=program)
    if client == "c":
        with peer_connection(kind, "process") as conn:
            conn.sendall(bench_peer.REQUEST.pack(bench_peer.ECHO, size, 0))
            # The C program times on its own copy of the descriptor; ours is closed on the
            # way out, and then the Python peer sees the end of the stream and finishes.
            return _run_c_client(program, rounds, warmup, size, "--fd", conn.fileno(), pass_fds=(conn.fileno(),))
    with _c_echo(kind, program, size) as conn:
        return time_round_trips(conn, rounds=rounds, size=size, warmup=warmup, time_limit=time_limit)


class Pairing:
    """One open connection, a client timing and a server echoing, whose round trips are timed a block at a time.

    Made by `pairing()`; `block(rounds)` returns that many round-trip times
    in seconds. The processes behind it stay up between blocks (blocked in a
    read, so they cost nothing meanwhile) until `close()`, which waits for
    them and raises BenchError if one of them failed. A block that fails
    closes the pairing, with the failing side's own words in the BenchError.
    """

    def __init__(self, client: str, server: str, kind: str, stack: contextlib.ExitStack, timed):
        self.client, self.server, self.kind = client, server, kind
        self._stack, self._timed = stack, timed
        self.closed = False

    def block(self, rounds: int) -> list[float]:
        """Time `rounds` round trips now; their times in seconds."""
        rounds = check_whole(rounds, "rounds", low=1, high=MAX_BLOCK, example=200)
        if self.closed:
            raise BenchError(f"This pairing ({self}) is closed; open another with c_peer.pairing().")
        try:
            return self._timed(rounds)
        except BaseException:
            # The contexts below see the error, as they would in a `with` block, and may turn it
            # into a sentence with what the peer said (raised from here); else it goes on as it is.
            self.closed = True
            self._stack.__exit__(*sys.exc_info())
            raise

    def close(self) -> None:
        """End the connection and wait for its processes; BenchError if one of them failed."""
        if not self.closed:
            self.closed = True
            self._stack.close()

    def __enter__(self) -> Pairing:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{self.client} client, {self.server} echo, {self.kind}"


def pairing(client: str = "python", server: str = "c", kind: str = "tcp", *, size: int = 1, warmup: int = 20,
            program: str | None = None) -> Pairing:
    """An open Pairing: `client` ("python" or "c") times, `server` echoes, over `kind`; close() it when done.

    The same four pairings as round_trips(), and the same exchange; `warmup`
    round trips are done at once and not kept. A C side needs `program`, the
    built pingpong (peers.toolchains.built("pingpong")).
    """
    client = check_choice(client, "client", LANGUAGES, example="python")
    server = check_choice(server, "server", LANGUAGES, example="c")
    kind, _, warmup, size = _checked(kind, 1, warmup, size)
    if "c" in (client, server) and program is None:
        raise BenchError("A pairing with a C side needs the built program; pass "
                         "program=path from peers.toolchains.built('pingpong').")
    stack = contextlib.ExitStack()
    try:
        if client == "python":
            conn = stack.enter_context(peer_connection(kind, "process") if server == "python"
                                       else _c_echo(kind, program, size))
            if server == "python":
                conn.sendall(bench_peer.REQUEST.pack(bench_peer.ECHO, size, 0))
            if warmup:
                time_round_trips(conn, rounds=warmup, size=size, warmup=0, time_limit=None)

            def timed(rounds):
                return time_round_trips(conn, rounds=rounds, size=size, warmup=0, time_limit=None)
        else:
            more = ["--unix"] if kind == "unix" else []
            if server == "python":
                conn = stack.enter_context(peer_connection(kind, "process"))
                conn.sendall(bench_peer.REQUEST.pack(bench_peer.ECHO, size, 0))
                more = ["--fd", conn.fileno()]
            timed = stack.enter_context(_c_control(program, size, warmup, more))
    except BaseException:
        stack.close()
        raise
    return Pairing(client, server, kind, stack, timed)


def _checked(kind, rounds, warmup, size) -> tuple:
    return (check_choice(kind, "kind", ("tcp", "unix"), example="tcp"),
            check_whole(rounds, "rounds", low=1, high=MAX_COUNT, example=10000),
            check_whole(warmup, "warmup", low=0, high=MAX_COUNT, example=20),
            check_whole(size, "size", low=1, high=MAX_COUNT, example=1))


def _run_c_client(program: str, rounds: int, warmup: int, size: int, *more, pass_fds=()) -> list[float]:
    """Run pingpong as the timing side and return its samples in seconds."""
    argv = toolchains.run_command(program, "--rounds", rounds, "--warmup", warmup, "--size", size, *more)
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=RUN_TIMEOUT, stdin=subprocess.DEVNULL,
                              pass_fds=pass_fds)
    except subprocess.TimeoutExpired:
        raise BenchError(f"pingpong did not finish within {RUN_TIMEOUT} s; try fewer rounds.") from None
    if done.returncode != 0:
        raise BenchError(f"pingpong failed with exit code {done.returncode}: {done.stderr.strip()[-800:]}")
    try:
        result = json.loads(done.stdout.strip().splitlines()[-1])
        return [ns / 1e9 for ns in result["samples_ns"]]
    except (IndexError, ValueError, KeyError, TypeError):
        raise BenchError(f"pingpong exited 0 but printed no result line (it printed {done.stdout[-200:]!r}); "
                         f"run it by hand to see what it does.") from None


def _connected_pair(kind: str) -> tuple[socket.socket, socket.socket]:
    """Two connected stream sockets of `kind`: over 127.0.0.1 (TCP_NODELAY on both), or a UNIX pair."""
    if kind == "unix":
        return socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    bound = open_socket(socket.AF_INET, socket.SOCK_STREAM, host="127.0.0.1", backlog=1,
                        what="round-trip measurement", reuse_address=False)
    ours = theirs = None
    try:
        bound.sock.settimeout(TIMEOUT)
        ours = socket.create_connection(bound.address, timeout=TIMEOUT)
        theirs, _ = bound.sock.accept()
        for sock in (ours, theirs):
            # Without it, Nagle's algorithm may hold a small message back while an ACK is due.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except BaseException:
        for sock in (ours, theirs):
            if sock is not None:
                sock.close()
        raise
    finally:
        bound.sock.close()
    return ours, theirs


@contextlib.contextmanager
def _c_echo(kind: str, program: str, size: int):
    """A socket whose other end is pingpong echoing in its own process; on exit, the program is waited for."""
    ours, theirs = _connected_pair(kind)
    process = None
    try:
        try:
            process = subprocess.Popen(toolchains.run_command(program, "--echo-fd", theirs.fileno(), "--size", size),
                                       pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL,
                                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        except OSError as exc:
            raise BenchError(f"The C echo peer {program!r} could not be started ({exc.strerror or exc}); "
                             f"build it again with peers.toolchains.built('pingpong').") from None
        finally:
            theirs.close()  # the program has its own copy now; ours would keep the stream from ending
        kernel_timeouts(ours, TIMEOUT)
        try:
            yield ours
        except BlockingIOError:
            # What SO_RCVTIMEO / SO_SNDTIMEO raise when their time is up.
            raise BenchError(f"The C echo peer neither sent nor took any bytes for {TIMEOUT} s; run "
                             f"{program} --echo-fd by hand to see what it does.") from None
        except (ConnectionError, BenchError) as exc:
            # The peer went away mid-run: what it said, if anything, tells why better than the socket does.
            ours.close()
            said = end_process(process, 1.0)
            raise BenchError(f"The C echo peer ended with exit code {process.returncode} during the round trips"
                             + (f" ({said[-400:]})" if said else f" ({exc})") + f"; run {program} --echo-fd "
                             f"by hand to see what it does.") from None
        ours.close()  # the program reads the end of the stream and exits
        said = end_process(process, TIMEOUT)
        if process.returncode != 0:
            raise BenchError(f"The measurement finished, but the C echo peer ended with exit code "
                             f"{process.returncode}" + (f" ({said[-400:]})" if said else "") + ".")
    finally:
        ours.close()
        if process is not None:
            end_process(process, 1.0)  # after an error: our side is closed, so it ends soon (or is stopped)


@contextlib.contextmanager
def _c_control(program: str, size: int, warmup: int, more: list):
    """pingpong --control, timing blocks on request; yields the function that asks for one block."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    fds = [theirs.fileno(), *(more[1:] if more[:1] == ["--fd"] else [])]
    process = None
    try:
        try:
            process = subprocess.Popen(
                toolchains.run_command(program, "--control", theirs.fileno(), "--warmup", warmup, "--size", size,
                                       *more),
                pass_fds=fds, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        except OSError as exc:
            raise BenchError(f"The C client {program!r} could not be started ({exc.strerror or exc}); "
                             f"build it again with peers.toolchains.built('pingpong').") from None
        finally:
            theirs.close()  # the program has its own copy; ours would keep it from seeing our end
        kernel_timeouts(ours, TIMEOUT)

        def block(rounds: int) -> list[float]:
            ours.sendall(rounds.to_bytes(4, "big"))
            # Warm-up first, so the first block may wait for that too; then 8 bytes a round trip.
            answer = recv_exactly(ours, 8 * rounds, what="block of round-trip times", eof_ok=False)
            return [ns / 1e9 for ns in memoryview(answer).cast("q")]

        try:
            yield block
        except BlockingIOError:
            raise BenchError(f"The C client sent no round-trip times for {TIMEOUT} s; run {program} --control "
                             f"by hand to see what it does.") from None
        except (ConnectionError, IncompleteMessage) as exc:
            ours.close()
            said = end_process(process, 1.0)
            raise BenchError(f"The C client ended with exit code {process.returncode} during the round trips"
                             + (f" ({said[-400:]})" if said else f" ({exc})") + f"; run {program} --control "
                             f"by hand to see what it does.") from None
        ours.close()  # the program reads the end of the stream, closes its connection and exits
        said = end_process(process, TIMEOUT)
        if process.returncode != 0:
            raise BenchError(f"The measurement finished, but the C client ended with exit code "
                             f"{process.returncode}" + (f" ({said[-400:]})" if said else "") + ".")
    finally:
        ours.close()
        if process is not None:
            end_process(process, 1.0)
