"""The whole benchmark of `python -m sockcourse bench`, as plain data.

`measure_all(plan)` measures this machine with the same code the notebooks
use: loopback TCP and UNIX throughput and round trips (`bench.loopback`),
the same round trip in C (`bench.c_peer`, built with this machine's
compiler), iperf3 on loopback as a yardstick where it is installed
(`peers.outside`), and how many concurrent connections each server model
serves (`bench.manyclients`).
It returns a `Results`: the numbers, every many-clients run, and each
problem as a `Problem`, never a traceback. Printing, the table and the
progress display belong to the command line (`sockcourse/cli/bench.py`).

Round trips are measured with both ends on one CPU, for Python and for C
alike: where the two ends sit on different CPUs, waking the other CPU can
cost more than everything else in a round trip, and that varies from run to
run with the scheduler's choices, not with the language.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import subprocess
from dataclasses import dataclass, field

from ..core.errors import SockcourseError
from ..peers import toolchains as cbuild
from ..peers.outside import iperf3_gbps
from . import loopback, manyclients
from .c_peer import c_ping_pong

#: The keys of the summary (the JSON object of `bench --json`), in the order they are printed.
KEYS = ("tcp_gbps", "iperf3_gbps", "throughput_ratio", "rtt_us", "c_rtt_us", "rtt_ratio",
        "unix_rtt_us", "unix_gbps", "max_clients")

#: The errors a measurement step may end with; anything else is a bug of the course.
_STEP_ERRORS = (SockcourseError, cbuild.BuildError, OSError, ValueError, subprocess.SubprocessError)


@dataclass(frozen=True)
class Plan:
    """How much a run measures."""

    name: str
    total_bytes: int          # per throughput run
    throughput_seconds: float  # each throughput run (ours and iperf3's) stops after this
    repeats: int              # throughput runs of each kind, alternating; the best one counts
    rounds: int               # round trips per RTT measurement
    counts: tuple             # concurrent clients per server model
    stall: float              # seconds without progress before a many-clients run gives up

    @property
    def steps(self) -> int:
        """How many steps measure_all() announces: three throughputs per repeat, three round trips, many clients."""
        return self.repeats * 3 + 3 + 1


FULL = Plan("full", total_bytes=8 << 30, throughput_seconds=2.0, repeats=3, rounds=20_000,
            counts=manyclients.FULL_COUNTS, stall=3.0)
QUICK = Plan("quick", total_bytes=512 << 20, throughput_seconds=1.0, repeats=1, rounds=2_000,
             counts=manyclients.QUICK_COUNTS, stall=0.5)


@dataclass(frozen=True)
class Problem:
    """A step that measured nothing, and why, in one sentence.

    optional: the step needs a yardstick of the machine (iperf3, a working C
    compiler), not the course's own code; without it the benchmark still did
    its job.
    """

    step: str
    message: str
    optional: bool = False


@dataclass
class Results:
    """What measure_all() found: each KEYS value (a number, or None), the many-clients runs, the problems."""

    plan: Plan
    values: dict
    runs: list = field(default_factory=list)
    problems: list = field(default_factory=list)
    pinned_cpu: int | None = None
    models: tuple = manyclients.MODEL_NAMES  # the server models the many-clients step tried, in order

    @property
    def failed(self) -> bool:
        """Whether a step of the course's own failed (a missing yardstick does not count)."""
        return any(not problem.optional for problem in self.problems)

    def summary(self) -> dict:
        """Every KEYS value, the plan's name and the CPU the round trips ran on: JSON-ready."""
        return {**{key: self.values.get(key) for key in KEYS}, "plan": self.plan.name,
                "pinned_cpu": self.pinned_cpu}


# -- the measurements --------------------------------------------------------------------
@contextlib.contextmanager
def one_cpu():
    """Run the block (and the processes it starts) on one CPU; yield its number, or None if not possible."""
    if not hasattr(os, "sched_setaffinity"):
        yield None  # macOS and Windows: no affinity call; the round trips run wherever the OS puts them
        return
    before = os.sched_getaffinity(0)
    cpu = min(before)
    os.sched_setaffinity(0, {cpu})
    try:
        yield cpu
    finally:
        os.sched_setaffinity(0, before)


def measure_all(plan: Plan, *, on_step=None, on_run=None) -> Results:
    """Every measurement of `plan`; a step that fails gives None and a Problem, and the next step runs.

    on_step: called as on_step(text) as each step begins, for a progress display.
    on_run: passed on to manyclients.sweep(progress=...): on_run(model, clients, run).
    """
    values = {key: None for key in KEYS}
    problems: list[Problem] = []

    def step(text: str) -> None:
        if on_step is not None:
            on_step(text)

    def attempt(what: str, call, optional: bool = False, errors=_STEP_ERRORS):
        try:
            return call()
        except errors as exc:
            problems.append(Problem(what, str(exc), optional))
            return None

    tcp, iperf, unix = [], [], []
    for repeat in range(plan.repeats):
        # Alternating, so that a busy moment of the machine falls on both rather than on one.
        step(f"TCP throughput, run {repeat + 1} of {plan.repeats}")
        tcp.append(attempt("TCP throughput", lambda: loopback.throughput(
            "tcp", total_bytes=plan.total_bytes, time_limit=plan.throughput_seconds) / 1e9))
        step(f"iperf3 on loopback, run {repeat + 1} of {plan.repeats}")
        iperf.append(attempt("iperf3", lambda: iperf3_gbps(plan.throughput_seconds), optional=True))
        step(f"UNIX stream throughput, run {repeat + 1} of {plan.repeats}")
        unix.append(attempt("UNIX throughput", lambda: loopback.throughput(
            "unix", total_bytes=plan.total_bytes, time_limit=plan.throughput_seconds) / 1e9))
    # The best run of each: how two busy processes land on the CPUs changes from run to
    # run, and the best run is the one where both tools had the machine at its best.
    values["tcp_gbps"] = _best_of(tcp)
    values["iperf3_gbps"] = _best_of(iperf)
    values["unix_gbps"] = _best_of(unix)
    values["throughput_ratio"] = _ratio(values["tcp_gbps"], values["iperf3_gbps"])

    with contextlib.ExitStack() as stack:
        # Built before pinning, so the compiler has every CPU; a compiler that fails is
        # the machine's yardstick missing, said in a sentence, and the run goes on.
        program = _c_program(stack, problems)
        with one_cpu() as pinned:
            step(f"TCP round trips, {plan.rounds:,} x 1 byte")
            samples = attempt("TCP round trips", lambda: loopback.ping_pong_rtt("tcp", rounds=plan.rounds))
            values["rtt_us"] = _median_us(samples)
            step(f"UNIX round trips, {plan.rounds:,} x 1 byte")
            samples = attempt("UNIX round trips", lambda: loopback.ping_pong_rtt("unix", rounds=plan.rounds))
            values["unix_rtt_us"] = _median_us(samples)
            step(f"the same TCP round trips in C, {plan.rounds:,} x 1 byte")
            if program is not None:
                samples = attempt("C round trips", lambda: c_ping_pong("tcp", rounds=plan.rounds, program=program))
                values["c_rtt_us"] = _median_us(samples)
    values["rtt_ratio"] = _ratio(values["rtt_us"], values["c_rtt_us"])

    step(f"many clients: {', '.join(manyclients.MODEL_NAMES)} with up to "
         f"{max(plan.counts):,} concurrent connections")
    runs = attempt("many clients", lambda: manyclients.sweep(manyclients.MODEL_NAMES, plan.counts,
                                                              progress=on_run, stall=plan.stall),
                   # RuntimeError too: "can't start new thread" is how the threads model meets its limit.
                   errors=(*_STEP_ERRORS, RuntimeError)) or []
    best = manyclients.max_clients(runs)
    values["max_clients"] = {model: best.get(model) for model in ("asyncio", "selectors", "threads", "iterative")}
    return Results(plan, values, runs, problems, pinned_cpu=pinned)


def _c_program(stack: contextlib.ExitStack, problems: list) -> str | None:
    """The built pingpong program (removed when `stack` closes), or None with an optional Problem."""
    if cbuild.compiler() is None:
        problems.append(Problem("C round trips", "no C compiler was found (tried $CC, cc, gcc, clang), "
                                                 "so c_rtt_us is null", optional=True))
        return None
    try:
        return stack.enter_context(cbuild.built("pingpong"))
    except _STEP_ERRORS as exc:
        # The compiler's own words end the message, whatever punctuation they end with.
        problems.append(Problem("C round trips", f"{str(exc).rstrip(' :.')}; so c_rtt_us is null", optional=True))
        return None


def _median_us(samples) -> float | None:
    return statistics.median(samples) * 1e6 if samples else None


def _ratio(a, b):
    return None if a is None or b in (None, 0) else a / b


def _best_of(values: list) -> float | None:
    values = [v for v in values if v is not None]
    return max(values) if values else None
