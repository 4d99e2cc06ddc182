"""Build the course's C peers with this machine's C compiler, and run the ping-pong one.

`compiler()` finds a C compiler ($CC, then cc, gcc, clang); `built(name)` is
a context manager that compiles `sockcourse/peers/<name>.c` into a private
temporary folder and removes it afterwards, so nothing is left behind.
`c_ping_pong()` runs `pingpong.c`'s measurement and returns round-trip times
in seconds, the same shape as `sockcourse.bench.ping_pong_rtt()`.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent

#: The C programs in this folder, by name.
C_PROGRAMS = ("pingpong",)

#: Seconds a compilation, and one measurement, may take.
BUILD_TIMEOUT = 60.0
RUN_TIMEOUT = 120.0

#: Flags every build gets: optimised like a release build, warnings on.
CFLAGS = ("-O2", "-Wall", "-Wextra", "-std=c11")


class BuildError(RuntimeError):
    """The C compiler is missing or refused the source; the message says which and what it printed."""


def compiler() -> list[str] | None:
    """The command of this machine's C compiler, or None if it has none."""
    named = os.environ.get("CC")
    if named:
        words = shlex.split(named)
        if words and shutil.which(words[0]):
            return [shutil.which(words[0]), *words[1:]]
    for candidate in ("cc", "gcc", "clang"):
        found = shutil.which(candidate)
        if found:
            return [found]
    return None


def source(name: str) -> Path:
    """The path of the C source of peer `name`."""
    if name not in C_PROGRAMS:
        raise ValueError(f"There is no C peer called {name!r}; expected one of "
                         f"{', '.join(map(repr, C_PROGRAMS))}, for example 'pingpong'.")
    return HERE / f"{name}.c"


@contextlib.contextmanager
def built(name: str = "pingpong"):
    """Compile peer `name` into a temporary folder; yield the program's path; remove it all at the end."""
    cc = compiler()
    if cc is None:
        raise BuildError("No C compiler was found (tried $CC, cc, gcc and clang); install one, for example "
                         "with 'apt-get install gcc' on Debian or 'xcode-select --install' on macOS.")
    folder = tempfile.mkdtemp(prefix="sockcourse-c-")
    try:
        program = os.path.join(folder, name)
        try:
            done = subprocess.run([*cc, *CFLAGS, "-o", program, str(source(name))],
                                  capture_output=True, text=True, timeout=BUILD_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise BuildError(f"The C compiler took longer than {BUILD_TIMEOUT} s to build {name}.c; "
                             f"the machine may be overloaded, try again.") from None
        if done.returncode != 0:
            raise BuildError(f"The C compiler ({cc[0]}) could not build {name}.c: "
                             f"{(done.stderr or done.stdout).strip()[-800:]}")
        yield program
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def c_ping_pong(kind: str = "tcp", *, rounds: int = 10000, warmup: int = 20, size: int = 1,
                program: str | None = None) -> list[float]:
    """Round-trip times in seconds, measured by pingpong.c (built here unless `program` is given).

    kind: "tcp" (127.0.0.1, TCP_NODELAY) or "unix" (a UNIX stream socket).
    """
    if kind not in ("tcp", "unix"):
        raise ValueError(f"Unknown kind {kind!r}; expected 'tcp' or 'unix', for example kind='tcp'.")
    for value, what, example in ((rounds, "rounds", 10000), (warmup, "warmup", 20), (size, "size", 1)):
        low = 0 if what == "warmup" else 1
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= 1_000_000:
            raise ValueError(f"The {what} must be a whole number from {low} to 1,000,000, but got {value!r}; "
                             f"for example {what}={example}.")
    if program is None:
        with built("pingpong") as path:
            return c_ping_pong(kind, rounds=rounds, warmup=warmup, size=size, program=path)
    argv = [program, "--rounds", str(rounds), "--warmup", str(warmup), "--size", str(size)]
    if kind == "unix":
        argv.append("--unix")
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=RUN_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise BuildError(f"pingpong did not finish within {RUN_TIMEOUT} s; try fewer rounds.") from None
    if done.returncode != 0:
        raise BuildError(f"pingpong failed with exit code {done.returncode}: {done.stderr.strip()[-800:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return [ns / 1e9 for ns in result["samples_ns"]]
