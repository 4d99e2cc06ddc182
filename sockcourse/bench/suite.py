"""The `bench` subcommand: the course's measurements of this machine, as a table and as one JSON line.

    python -m sockcourse bench            # the full run (a minute or two)
    python -m sockcourse bench --quick    # a small version, in seconds
    python -m sockcourse bench --json     # the table, then one JSON object on the last line

It measures with the same code the notebooks use: loopback TCP and UNIX
throughput and round trips (`sockcourse.bench`), the same round trip in C
(`sockcourse/peers/pingpong.c`, built with this machine's compiler), iperf3
on loopback as a yardstick where it is installed, and how many concurrent
connections each server model serves (`sockcourse.manyclients`). Progress
goes to stderr, so stdout stays a clean table (and JSON line).

Round trips are measured with both ends on one CPU, for Python and for C
alike: where the two ends sit on different CPUs, waking the other CPU can
cost more than everything else in a round trip, and that varies from run to
run with the scheduler's choices, not with the language.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass

from . import loopback as bench, manyclients
from ..core.errors import SockcourseError
from ..peers import toolchains as cbuild

#: The keys of the JSON object, in the order they are printed.
KEYS = ("tcp_gbps", "iperf3_gbps", "throughput_ratio", "rtt_us", "c_rtt_us", "rtt_ratio",
        "unix_rtt_us", "unix_gbps", "max_clients")


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


FULL = Plan("full", total_bytes=8 << 30, throughput_seconds=2.0, repeats=3, rounds=20_000,
            counts=manyclients.FULL_COUNTS, stall=3.0)
QUICK = Plan("quick", total_bytes=512 << 20, throughput_seconds=1.0, repeats=1, rounds=2_000,
             counts=manyclients.QUICK_COUNTS, stall=0.5)


def add_parser(subparsers, prog: str) -> None:
    """Add `bench` to the command line's subcommands."""
    sub = subparsers.add_parser(
        "bench",
        help="measure this machine: throughput, round trips, and many clients per server model",
        description=(
            "Measure this machine with the course's own code: loopback TCP and UNIX socket "
            "throughput and round trips, the same round trip in C, iperf3 as a yardstick (if "
            "installed), and how many concurrent connections each server model serves with every "
            "echo correct. A table goes to stdout, progress to stderr."),
        epilog="\n".join([
            "examples:",
            f"  {prog} bench --quick",
            "      a small run, in seconds",
            f"  {prog} bench --json",
            "      the full run; the last line of stdout is one JSON object",
            f"  {prog} bench --save sockcourse/bench/measured.json",
            "      the full run, saved for chapter 04's plots of many clients",
        ]),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub.add_argument("--quick", action="store_true", help="a small, fast run (seconds, not minutes)")
    sub.add_argument("--json", action="store_true",
                     help="after the table, print one JSON object with every result on the last line")
    sub.add_argument("--save", metavar="PATH",
                     help="also write every result, with each many-clients run, to a JSON file at PATH")
    sub.set_defaults(run=_run, prog=sub.prog)


# -- progress on stderr -----------------------------------------------------------------
class Progress:
    """One line per step on stderr; on a terminal, the current step is redrawn in place."""

    def __init__(self, steps: int, stream=None):
        self.steps, self.done = steps, 0
        self.stream = stream or sys.stderr
        self.live = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.started = time.monotonic()

    def step(self, text: str) -> None:
        self.done += 1
        self._say(f"[{self.done}/{self.steps}] {text} ...")

    def detail(self, text: str) -> None:
        self._say(f"      {text}")

    def _say(self, line: str) -> None:
        elapsed = time.monotonic() - self.started
        line = f"{line}  ({elapsed:.0f} s)"
        if self.live:
            self.stream.write("\r\033[K" + line)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def finish(self) -> None:
        if self.live:
            self.stream.write("\r\033[K")
        self.stream.write(f"bench: finished in {time.monotonic() - self.started:.0f} s\n")
        self.stream.flush()


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


def iperf3_gbps(seconds: float) -> float | None:
    """iperf3's loopback throughput in Gbit/s (its receiver's figure), or None if iperf3 is not installed."""
    program = shutil.which("iperf3")
    if program is None:
        return None
    with socket.socket() as probe:  # a free port; iperf3 has no "port 0"
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([program, "-s", "-1", "-B", "127.0.0.1", "-p", str(port), "--forceflush"],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        if not _wait_for_line(server, b"listening", 10.0):
            raise SockcourseError("iperf3 -s did not start listening within 10 s")
        # iperf3 reads -t as whole seconds, and 0 would mean "until stopped".
        whole = str(max(1, round(seconds)))
        done = subprocess.run([program, "-c", "127.0.0.1", "-p", str(port), "-J", "-t", whole],
                              capture_output=True, text=True, timeout=seconds + 30, stdin=subprocess.DEVNULL)
        result = json.loads(done.stdout)
        if "error" in result:
            raise SockcourseError(f"iperf3 said: {result['error']}")
        return result["end"]["sum_received"]["bits_per_second"] / 1e9
    finally:
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(10)
        server.stdout.close()


def _wait_for_line(process: subprocess.Popen, word: bytes, timeout: float) -> bool:
    import selectors
    deadline = time.monotonic() + timeout
    seen = b""
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while word not in seen.lower():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            if selector.select(left):
                chunk = os.read(process.stdout.fileno(), 4096)
                if not chunk:
                    return False
                seen += chunk
    return True


def _median_us(samples: list[float]) -> float:
    return statistics.median(samples) * 1e6


def _ratio(a, b):
    return None if a is None or b in (None, 0) else a / b


def measure_all(plan: Plan, progress: Progress, problems: list[str]) -> tuple[dict, list]:
    """Every measurement of `plan`; failures become None and a sentence in `problems`."""
    result = {key: None for key in KEYS}

    def attempt(what: str, call):
        try:
            return call()
        except (SockcourseError, OSError, ValueError, subprocess.SubprocessError) as exc:
            problems.append(f"{what}: {exc}")
            return None

    tcp, iperf, unix = [], [], []
    for repeat in range(plan.repeats):
        # Alternating, so that a busy moment of the machine falls on both rather than on one.
        progress.step(f"TCP throughput, run {repeat + 1} of {plan.repeats}")
        tcp.append(attempt("TCP throughput", lambda: bench.throughput(
            "tcp", total_bytes=plan.total_bytes, time_limit=plan.throughput_seconds) / 1e9))
        progress.step(f"iperf3 on loopback, run {repeat + 1} of {plan.repeats}")
        iperf.append(attempt("iperf3", lambda: iperf3_gbps(plan.throughput_seconds)))
        progress.step(f"UNIX stream throughput, run {repeat + 1} of {plan.repeats}")
        unix.append(attempt("UNIX throughput", lambda: bench.throughput(
            "unix", total_bytes=plan.total_bytes, time_limit=plan.throughput_seconds) / 1e9))
    # The best run of each: how two busy processes land on the CPUs changes from run to
    # run, and the best run is the one where both tools had the machine at its best.
    result["tcp_gbps"] = _best_of(tcp)
    result["iperf3_gbps"] = _best_of(iperf)
    result["unix_gbps"] = _best_of(unix)
    result["throughput_ratio"] = _ratio(result["tcp_gbps"], result["iperf3_gbps"])

    with one_cpu() as cpu:
        result["pinned_cpu"] = cpu
        progress.step(f"TCP round trips, {plan.rounds:,} x 1 byte")
        samples = attempt("TCP round trips", lambda: bench.ping_pong_rtt("tcp", rounds=plan.rounds))
        result["rtt_us"] = _median_us(samples) if samples else None
        progress.step(f"UNIX round trips, {plan.rounds:,} x 1 byte")
        samples = attempt("UNIX round trips", lambda: bench.ping_pong_rtt("unix", rounds=plan.rounds))
        result["unix_rtt_us"] = _median_us(samples) if samples else None
        progress.step(f"the same TCP round trips in C, {plan.rounds:,} x 1 byte")
        if cbuild.compiler() is None:
            problems.append("C round trips: no C compiler was found (tried $CC, cc, gcc, clang), so c_rtt_us is null")
        else:
            samples = attempt("C round trips", lambda: cbuild.c_ping_pong("tcp", rounds=plan.rounds))
            result["c_rtt_us"] = _median_us(samples) if samples else None
    result["rtt_ratio"] = _ratio(result["rtt_us"], result["c_rtt_us"])

    runs = []

    def show(model, clients, run):
        if run is None:
            progress.detail(f"{model}: {clients:,} concurrent clients")
        elif not run.ok:
            progress.detail(f"{model}: {clients:,} clients failed ({_why(run)})")

    progress.step(f"many clients: {', '.join(manyclients.MODEL_NAMES)} with up to "
                  f"{max(plan.counts):,} concurrent connections")
    try:
        runs = manyclients.sweep(manyclients.MODEL_NAMES, plan.counts, progress=show, stall=plan.stall)
    except (SockcourseError, OSError, RuntimeError, ValueError) as exc:
        problems.append(f"many clients: {exc}")
    best = manyclients.max_clients(runs)
    result["max_clients"] = {model: best.get(model) for model in ("asyncio", "selectors", "threads", "iterative")}
    return result, runs


def _best_of(values: list) -> float | None:
    values = [v for v in values if v is not None]
    return max(values) if values else None


def _why(run) -> str:
    if run.note:
        return run.note
    if run.gave_up:
        return run.gave_up
    if run.failed:
        return ", ".join(f"{count} {reason}" for reason, count in run.failed.items())
    if run.wrong:
        return f"{run.wrong} echoes came back wrong"
    return run.server_error or "unknown"


# -- the table -------------------------------------------------------------------------------
def _number(value, unit: str, digits: int = 1) -> str:
    if value is None:
        return "n/a"
    return f"{value:.{digits}f} {unit}" if unit else f"{value:.{digits}f}"


def table(result: dict, runs: list, plan: Plan) -> str:
    """The results as a readable text table."""
    cpu = result.get("pinned_cpu")
    pinned = f"both ends on CPU {cpu}" if cpu is not None else "wherever the OS put them"
    lines = [
        f"sockcourse bench ({plan.name}) on {platform.system()} {platform.release()}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}",
        "",
        f"{'measurement':<36}{'this course':>14}{'yardstick':>24}{'ratio':>8}",
        f"{'loopback TCP throughput':<36}{_number(result['tcp_gbps'], 'Gbit/s'):>14}"
        f"{'iperf3 ' + _number(result['iperf3_gbps'], 'Gbit/s'):>24}{_number(result['throughput_ratio'], '', 2):>8}",
        f"{'TCP round trip, 1 byte, median':<36}{_number(result['rtt_us'], 'µs'):>14}"
        f"{'C ' + _number(result['c_rtt_us'], 'µs'):>24}{_number(result['rtt_ratio'], '', 2):>8}",
        f"{'UNIX stream throughput':<36}{_number(result['unix_gbps'], 'Gbit/s'):>14}",
        f"{'UNIX round trip, 1 byte, median':<36}{_number(result['unix_rtt_us'], 'µs'):>14}",
        f"(round trips: the median, {pinned}; throughput: the best of {plan.repeats} run(s) each)",
        "",
        "many concurrent clients (echo; every connection's bytes checked; all held open at once)",
    ]
    counts = sorted({run.clients for run in runs}) or list(plan.counts)
    by_model = {}
    for run in runs:
        by_model.setdefault(run.model, {})[run.clients] = run
    header = f"{'model':<11}" + "".join(f"{c:>9,}" for c in counts) + f"{'most served':>13}{'memory':>11}{'threads':>9}"
    lines += ["seconds to serve everyone (x: failed, -: not tried)", header]
    best = result.get("max_clients") or {}
    for model in manyclients.MODEL_NAMES:
        cells = []
        for clients in counts:
            run = by_model.get(model, {}).get(clients)
            cells.append("-" if run is None else "x" if not run.ok else f"{run.seconds:.3f}")
        top = by_model.get(model, {}).get(best.get(model))
        memory = f"{top.memory_mib:.1f} MiB" if top and top.memory_mib is not None else "n/a"
        threads = str(top.threads) if top and top.threads is not None else "n/a"
        lines.append(f"{model:<11}" + "".join(f"{c:>9}" for c in cells)
                     + f"{best.get(model) or 0:>13,}{memory:>11}{threads:>9}")
    lines.append("(memory: growth of the server's resident memory; threads: the server process's, "
                 "both at the largest count served)")
    for run in runs:
        if not run.ok:
            lines.append(f"  {run.model} with {run.clients:,} clients: {_why(run)}")
        elif run.server_error:
            lines.append(f"  {run.model} with {run.clients:,} clients served everyone, but {run.server_error}")
    return "\n".join(lines)


# -- the subcommand -----------------------------------------------------------------------------
def _run(args) -> int:
    plan = QUICK if args.quick else FULL
    steps = plan.repeats * 3 + 3 + 1
    progress = Progress(steps)
    problems: list[str] = []
    result, runs = measure_all(plan, progress, problems)
    progress.finish()
    print(table(result, runs, plan), flush=True)
    for problem in problems:
        print(f"{args.prog}: warning: {problem}", file=sys.stderr, flush=True)
    summary = {key: result[key] for key in KEYS}
    summary.update(plan=plan.name, pinned_cpu=result.get("pinned_cpu"))
    if args.save:
        about = {"summary": summary, "python": platform.python_version(), "system": platform.system(),
                 "release": platform.release(), "cpus": os.cpu_count(), "fd_limit": list(manyclients.fd_limit()),
                 "command": f"python -m sockcourse bench{' --quick' if args.quick else ''} --save {args.save}"}
        manyclients.save(runs, args.save, **about)
    if args.json:
        print(json.dumps(summary), flush=True)
    return 1 if problems and any(not _optional(p) for p in problems) else 0


def _optional(problem: str) -> bool:
    # The yardsticks (iperf3, a C compiler) belong to the machine, not to the course:
    # without them the benchmark still did its own job.
    return problem.startswith(("C round trips: no C compiler", "iperf3:"))
