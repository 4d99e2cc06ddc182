"""The round trip of `ping_pong_rtt`, measured by a C program: what the same loop costs without Python.

`c_ping_pong()` builds `peers/src/c/pingpong.c` with this machine's C
compiler (peers.toolchains, in a private temporary folder that is removed
afterwards), runs it, and returns its round-trip times in seconds, the same
shape as `sockcourse.bench.ping_pong_rtt()`. The program forks its own echo
peer, so both ends are C.
"""

from __future__ import annotations

import json
import subprocess

from ..core.checks import check_choice, check_whole
from ..peers import toolchains
from .loopback import BenchError

__all__ = ["MAX_COUNT", "RUN_TIMEOUT", "c_ping_pong"]

#: Seconds one measurement may take.
RUN_TIMEOUT = 120.0

#: The largest number of rounds (and of warm-up rounds, and of bytes) pingpong.c takes.
MAX_COUNT = 1_000_000


def c_ping_pong(kind: str = "tcp", *, rounds: int = 10000, warmup: int = 20, size: int = 1,
                program: str | None = None) -> list[float]:
    """Round-trip times in seconds, measured by pingpong.c (built here unless `program` is given).

    kind: "tcp" (127.0.0.1, TCP_NODELAY) or "unix" (a UNIX stream socket).
    Raises BuildError when there is no C compiler or it refuses the source.
    """
    kind = check_choice(kind, "kind", ("tcp", "unix"), example="tcp")
    rounds = check_whole(rounds, "rounds", low=1, high=MAX_COUNT, example=10000)
    warmup = check_whole(warmup, "warmup", low=0, high=MAX_COUNT, example=20)
    size = check_whole(size, "size", low=1, high=MAX_COUNT, example=1)
    if program is None:
        with toolchains.built("pingpong") as path:
            return c_ping_pong(kind, rounds=rounds, warmup=warmup, size=size, program=path)
    argv = toolchains.run_command(program, "--rounds", rounds, "--warmup", warmup, "--size", size,
                                  *(["--unix"] if kind == "unix" else []))
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=RUN_TIMEOUT, stdin=subprocess.DEVNULL)
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
