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
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess

from ..core.binding import open_socket
from ..core.checks import check_choice, check_timeout, check_whole
from ..peers import bench_peer, toolchains
from ..peers.process import end_process
from .loopback import TIMEOUT, BenchError, kernel_timeouts, peer_connection, ping_pong_rtt, time_round_trips

__all__ = ["LANGUAGES", "MAX_COUNT", "RUN_TIMEOUT", "c_ping_pong", "round_trips"]

#: Seconds one measurement may take.
RUN_TIMEOUT = 120.0

#: The largest number of rounds (and of warm-up rounds, and of bytes) pingpong.c takes.
MAX_COUNT = 1_000_000

#: Who may time the round trips (the client) and who may echo them (the server).
LANGUAGES = ("python", "c")


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
