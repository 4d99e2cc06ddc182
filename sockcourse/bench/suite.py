"""The whole benchmark of `python -m sockcourse bench`, as plain data.

`measure_all(plan)` measures this machine with the same code the notebooks
use: loopback TCP and UNIX throughput and round trips (`bench.loopback`),
the same round trip in C and half in C (`bench.c_peer`, built with this
machine's compiler), iperf3 and sockperf on loopback as yardsticks where
they are installed (`peers.outside`), and how many concurrent connections
each server model serves (`bench.manyclients`).
It returns a `Results`: the numbers, every many-clients run, and each
problem as a `Problem`, never a traceback. Printing, the table and the
progress display belong to the command line (`sockcourse/cli/bench.py`).

Round trips are measured with both ends on one CPU, for Python and for C
alike: where the two ends sit on different CPUs, waking the other CPU can
cost more than everything else in a round trip, and that varies from run to
run with the scheduler's choices, not with the language.

A comparison is only as steady as the machine between its two halves, and a
machine's speed changes within milliseconds (on a small virtual machine, the
same C round trip jumps between about 18, 24 and 28 µs, sometimes after 10
ms, sometimes after seconds: the other CPU's work, the host's, where the
scheduler puts things; and Python's share of a round trip grows in the slow
states). So every pairing (Python and C, TCP and UNIX) keeps its connection
open for the whole measurement, and they take turns: a block of `Plan.turn`
round trips each, 2 to 3 ms, the Python block and the C block always next to
each other, in an order that changes from turn to turn. Each turn's
Python-to-C ratio is taken from two blocks that met the machine in the same
state; a trial is `Plan.rounds` round trips of every pairing (and sockperf
in some), its ratio the median of its turns' ratios, and the result is the
median of the trials' ratios with their smallest and largest (a `Spread`).
Throughput is compared with iperf3 the same way, run by run.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import subprocess
from dataclasses import dataclass, field

from ..core.errors import SockcourseError
from ..peers import toolchains as cbuild
from ..peers.outside import iperf3_gbps, sockperf_rtt_us
from . import c_peer, loopback, manyclients

#: The keys of the summary (the JSON object of `bench --json`), in the order they are printed.
#: A value is a number or None; a *_trials value is how many trials gave the ratio before it (0: none).
KEYS = ("tcp_gbps", "iperf3_gbps", "throughput_ratio", "throughput_ratio_min", "throughput_ratio_max",
        "throughput_trials",
        "rtt_us", "c_rtt_us", "rtt_ratio", "rtt_ratio_min", "rtt_ratio_max", "rtt_trials",
        "sockperf_rtt_us", "sockperf_ratio", "sockperf_ratio_min", "sockperf_ratio_max", "sockperf_trials",
        "py_client_c_server_rtt_us", "c_client_py_server_rtt_us",
        "unix_rtt_us", "unix_gbps", "max_clients")

#: The ratios that come with a spread: each has <name>_min, <name>_max, and <prefix>_trials.
SPREADS = {"throughput_ratio": "throughput_trials", "rtt_ratio": "rtt_trials", "sockperf_ratio": "sockperf_trials"}

#: The errors a measurement step may end with; anything else is a bug of the course.
_STEP_ERRORS = (SockcourseError, cbuild.BuildError, OSError, ValueError, subprocess.SubprocessError)


@dataclass(frozen=True)
class Plan:
    """How much a run measures."""

    name: str
    total_bytes: int          # per throughput run
    throughput_seconds: float  # each throughput run (ours and iperf3's) stops after this
    repeats: int              # throughput runs of each kind, alternating; the best one counts
    rounds: int               # round trips per pairing per trial
    counts: tuple             # concurrent clients per server model
    stall: float              # seconds without progress before a many-clients run gives up
    trials: int = 5           # groups of turns of every round-trip pairing; each gives one ratio
    sockperf_trials: int = 1  # how many of those trials also run sockperf (about 3 s each)
    warmup: int = 100         # round trips at the start of each pairing's connection that are not counted
    turn: int = 100           # round trips a pairing does in its turn (2 to 3 ms), before the next one's
    # Round trips at the start of each turn that are not counted: the first after another
    # pairing's turn finds the caches full of that pairing's code, which a run alone never does.
    turn_warmup: int = 5

    @property
    def turns(self) -> int:
        """How many turns each pairing gets in a trial."""
        return max(1, self.rounds // max(1, min(self.turn, self.rounds)))

    @property
    def turn_rounds(self) -> int:
        """Round trips counted in one turn."""
        return max(1, min(self.turn, self.rounds))

    @property
    def steps(self) -> int:
        """How many steps measure_all() announces: three throughputs per repeat, one per trial, many clients."""
        return self.repeats * 3 + self.trials + 1

    def sockperf_in(self, trial: int) -> bool:
        """Whether trial number `trial` (from 0) runs sockperf: spread evenly over the trials."""
        wanted = min(self.sockperf_trials, self.trials)
        return wanted > 0 and trial in {(2 * i + 1) * self.trials // (2 * wanted) for i in range(wanted)}


FULL = Plan("full", total_bytes=8 << 30, throughput_seconds=1.0, repeats=5, rounds=5_000,
            counts=manyclients.FULL_COUNTS, stall=3.0, trials=11, sockperf_trials=5)
QUICK = Plan("quick", total_bytes=512 << 20, throughput_seconds=1.0, repeats=1, rounds=2_000,
             counts=manyclients.QUICK_COUNTS, stall=0.5, trials=7, sockperf_trials=1)


@dataclass(frozen=True)
class Spread:
    """The median of some per-trial values, their smallest and largest, and how many there were."""

    median: float | None
    low: float | None
    high: float | None
    trials: int

    @classmethod
    def of(cls, values) -> Spread:
        """The spread of the values that are not None (all None when there are none)."""
        kept = [value for value in values if value is not None]
        if not kept:
            return cls(None, None, None, 0)
        return cls(statistics.median(kept), min(kept), max(kept), len(kept))


def paired_ratios(numerators, denominators) -> list:
    """a / b for each trial's pair (a, b); None for a trial where either is missing (or b is 0)."""
    return [_ratio(a, b) for a, b in zip(numerators, denominators)]


@dataclass(frozen=True)
class Problem:
    """A step that measured nothing, and why, in one sentence.

    optional: the step needs a yardstick of the machine (iperf3, sockperf, a
    working C compiler), not the course's own code; without it the benchmark
    still did its job.
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
    pinned_cpu: int | None = None   # the one CPU every stream and round trip ran on
    models: tuple = manyclients.MODEL_NAMES  # the server models the many-clients step tried, in order

    @property
    def failed(self) -> bool:
        """Whether a step of the course's own failed (a missing yardstick does not count)."""
        return any(not problem.optional for problem in self.problems)

    def summary(self) -> dict:
        """Every KEYS value, the plan's name and the CPU the streams and round trips ran on: JSON-ready."""
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
            problem = Problem(what, str(exc), optional)
            if problem not in problems:  # a step that fails the same way in every trial is said once
                problems.append(problem)
            return None

    tcp, iperf, unix = [], [], []
    # Both ends of every stream on one CPU, ours and iperf3's alike: the peer processes and iperf3
    # start inside the block and inherit its CPU. Left to the scheduler, or pinned to two CPUs,
    # single runs on a 2-CPU machine differed by up to half (ratios from 0.9 to 1.7); on one CPU
    # they agree within about 10 %: each measures the work a stack does per byte.
    with one_cpu():
        for repeat in range(plan.repeats):
            # Alternating, so that a busy moment of the machine falls on both rather than on one,
            # and in turns first, so that neither always meets the machine as the other left it.
            ours = (f"TCP throughput, run {repeat + 1} of {plan.repeats}", lambda: tcp.append(attempt(
                "TCP throughput", lambda: loopback.throughput(
                    "tcp", total_bytes=plan.total_bytes, time_limit=plan.throughput_seconds) / 1e9)))
            theirs = (f"iperf3 on loopback, run {repeat + 1} of {plan.repeats}", lambda: iperf.append(attempt(
                "iperf3", lambda: iperf3_gbps(plan.throughput_seconds), optional=True)))
            for text, run in (ours, theirs) if repeat % 2 == 0 else (theirs, ours):
                step(text)
                run()
            step(f"UNIX stream throughput, run {repeat + 1} of {plan.repeats}")
            unix.append(attempt("UNIX throughput", lambda: loopback.throughput(
                "unix", total_bytes=plan.total_bytes, time_limit=plan.throughput_seconds) / 1e9))
    # The best run of each: even pinned, the caches and the machine's other work change
    # from run to run, and the best run is the one where each tool had the machine at its best.
    values["tcp_gbps"] = _best_of(tcp)
    values["iperf3_gbps"] = _best_of(iperf)
    values["unix_gbps"] = _best_of(unix)
    # The ratio, though, run by run: each pair of runs met the same machine.
    _put_spread(values, "throughput_ratio", Spread.of(paired_ratios(tcp, iperf)))
    if plan.repeats and all(value is None for value in iperf) and not _said(problems, "iperf3"):
        problems.append(Problem("iperf3", "iperf3 is not installed, so iperf3_gbps and throughput_ratio are "
                                          "null; install it (apt-get install iperf3) to compare the throughput "
                                          "with it.", optional=True))

    with contextlib.ExitStack() as stack:
        # Built before pinning, so the compiler has every CPU; a compiler that fails is
        # the machine's yardstick missing, said in a sentence, and the run goes on.
        program = _c_program(stack, problems)
        with one_cpu() as pinned:
            trials = _round_trip_trials(plan, program, step, attempt)
    medians = {name: Spread.of(found).median for name, found in trials.items()}
    values["rtt_us"] = medians["python"]
    values["c_rtt_us"] = medians["c"]
    values["py_client_c_server_rtt_us"] = medians["python-c"]
    values["c_client_py_server_rtt_us"] = medians["c-python"]
    values["unix_rtt_us"] = medians["unix"]
    values["sockperf_rtt_us"] = medians["sockperf"]
    _put_spread(values, "rtt_ratio", Spread.of(trials["ratio"]))
    _put_spread(values, "sockperf_ratio", Spread.of(paired_ratios(trials["python"], trials["sockperf"])))
    if plan.sockperf_trials and medians["sockperf"] is None and not _said(problems, "sockperf"):
        problems.append(Problem("sockperf", "sockperf is not installed, so sockperf_rtt_us and sockperf_ratio are "
                                            "null; install it (apt-get install sockperf) to compare the round "
                                            "trips with it.", optional=True))

    step(f"many clients: {', '.join(manyclients.MODEL_NAMES)} with up to "
         f"{max(plan.counts):,} concurrent connections")
    runs = attempt("many clients", lambda: manyclients.sweep(manyclients.MODEL_NAMES, plan.counts,
                                                              progress=on_run, stall=plan.stall),
                   # RuntimeError too: "can't start new thread" is how the threads model meets its limit.
                   errors=(*_STEP_ERRORS, RuntimeError)) or []
    best = manyclients.max_clients(runs)
    values["max_clients"] = {model: best.get(model) for model in ("asyncio", "selectors", "threads", "iterative")}
    return Results(plan, values, runs, problems, pinned_cpu=pinned)


#: The round-trip pairings: (name, step name in a Problem, client, server, kind).
_PAIRINGS = (("python", "TCP round trips", "python", "python", "tcp"),
             ("c", "C round trips", "c", "c", "tcp"),
             ("python-c", "Python client, C echo peer", "python", "c", "tcp"),
             ("c-python", "C client, Python echo peer", "c", "python", "tcp"),
             ("unix", "UNIX round trips", "python", "python", "unix"))


def turn_order(turn: int, names) -> list:
    """The order of the pairings in turn number `turn` (from 0): "python" and "c" always side by side.

    The two halves of the ratio take their turns next to each other, first one
    then the other, so both meet the machine within a few milliseconds; the
    other pairings and that pair take the lead in turn, so none always
    follows the same one.
    """
    names = list(names)
    pair = [name for name in ("python", "c") if name in names]
    units = ([pair] if pair else []) + [[name] for name in names if name not in ("python", "c")]
    if not units:
        return []
    # Python first, then C first, turn after turn; and a shift of one every round of the
    # leads, so that with an even number of units the pair still leads with either half.
    if (turn + turn // len(units)) % 2:
        pair.reverse()
    lead = turn % len(units)
    return [name for unit in units[lead:] + units[:lead] for name in unit]


def _round_trip_trials(plan: Plan, program: str | None, step, attempt) -> dict:
    """Each pairing's median round trip in µs, trial by trial: {name: [µs or None, ...]}, with "sockperf",
    and "ratio": each trial's median of its turns' Python-to-C ratios."""
    found = {name: [] for name, *_ in _PAIRINGS}
    found["sockperf"], found["ratio"] = [], []
    what_of = {name: what for name, what, *_ in _PAIRINGS}
    with contextlib.ExitStack() as stack:
        pairings = {}
        for name, what, client, server, kind in _PAIRINGS:
            if program is None and "c" in (client, server):
                continue  # said once already: no C compiler, or one that failed
            opened = attempt(what, lambda: c_peer.pairing(client, server, kind, warmup=plan.warmup, program=program))
            if opened is not None:
                pairings[name] = opened
                stack.callback(attempt, what, opened.close)
        for trial in range(plan.trials):
            step(f"round trips, trial {trial + 1} of {plan.trials}: Python and C, TCP and UNIX, taking turns"
                 f"{', then sockperf' if plan.sockperf_in(trial) else ''}; {plan.turns} x {plan.turn_rounds:,} "
                 f"x 1 byte each")
            samples = {name: [] for name in pairings}
            ratios = []
            for turn in range(plan.turns):
                medians = {}
                for name in turn_order(turn, pairings):
                    times = attempt(what_of[name], lambda: pairings[name].block(plan.turn_warmup + plan.turn_rounds))
                    if times is None:  # that pairing is closed now, and says why once
                        del pairings[name]
                        continue
                    kept = times[plan.turn_warmup:]
                    samples[name] += kept
                    medians[name] = statistics.median(kept)
                ratios.append(_ratio(medians.get("python"), medians.get("c")))
            for name in found:
                if name not in ("sockperf", "ratio"):
                    found[name].append(_median_us(samples.get(name)))
            found["ratio"].append(Spread.of(ratios).median)
            found["sockperf"].append(attempt("sockperf", lambda: sockperf_rtt_us(1.0), optional=True)
                                     if plan.sockperf_in(trial) else None)
    return found


def _put_spread(values: dict, name: str, spread: Spread) -> None:
    values[name], values[f"{name}_min"], values[f"{name}_max"] = spread.median, spread.low, spread.high
    values[SPREADS[name]] = spread.trials


def _said(problems: list, step: str) -> bool:
    return any(problem.step == step for problem in problems)


def _c_program(stack: contextlib.ExitStack, problems: list) -> str | None:
    """The built pingpong program (removed when `stack` closes), or None with an optional Problem."""
    if cbuild.compiler() is None:
        problems.append(Problem("C round trips", "no C compiler was found (tried $CC, cc, gcc, clang), "
                                                 "so c_rtt_us is null, and so are the round trips half in C",
                                optional=True))
        return None
    try:
        return stack.enter_context(cbuild.built("pingpong"))
    except _STEP_ERRORS as exc:
        # The compiler's own words end the message, whatever punctuation they end with.
        problems.append(Problem("C round trips", f"{str(exc).rstrip(' :.')}; so c_rtt_us is null, and so are "
                                                 f"the round trips half in C", optional=True))
        return None


def _median_us(samples) -> float | None:
    return statistics.median(samples) * 1e6 if samples else None


def _ratio(a, b):
    return None if a is None or b in (None, 0) else a / b


def _best_of(values: list) -> float | None:
    values = [v for v in values if v is not None]
    return max(values) if values else None
