"""The `bench` command: the course's measurements of this machine, as a table and as one JSON line.

    python -m sockcourse bench            # the full run (a minute or two)
    python -m sockcourse bench --quick    # a small version, in seconds
    python -m sockcourse bench --json     # the table, then one JSON object on the last line

The measuring is `sockcourse.bench.suite.measure_all()`; this module shows
it. Progress goes to stderr, so stdout stays a clean table (and JSON line).
A step that could not measure is a warning line on stderr, never a
traceback, and the run goes on to the next step.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

from .common import EXIT_FAILED, EXIT_OK, UsageError, one_line, say


def add_parser(subparsers, prog: str) -> None:
    """Add the `bench` subcommand; `prog` names the program in the examples."""
    sub = subparsers.add_parser(
        "bench",
        help="measure this machine: throughput, round trips, and many clients per server model",
        description=(
            "Measure this machine with the course's own code: loopback TCP and UNIX socket "
            "throughput and round trips, the same round trip in C and half in C (to show which "
            "side costs what), iperf3 and sockperf as yardsticks (if installed), and how many "
            "concurrent connections each server model serves with every echo correct. The round "
            "trips take turns on connections held open, a few milliseconds each, so that Python and "
            "C meet the machine alike; each ratio comes with its spread over several trials. A "
            "table goes to stdout, progress to stderr; nothing is written to disk unless --save "
            "names a file."),
        epilog="\n".join([
            "examples:",
            f"  {prog} bench --quick",
            "      a small run, in seconds",
            f"  {prog} bench --json",
            "      the full run; the last line of stdout is one JSON object",
            f"  {prog} bench --save my-machine.json",
            "      the full run, also saved to my-machine.json (any path you choose), which",
            "      chapter 04 can draw: manyclients.load('my-machine.json')",
            "",
            "The results shipped with the course (sockcourse/bench/measured.json) are made",
            "the same way; the maintainers regenerate them by naming that file:",
            f"  {prog} bench --save sockcourse/bench/measured.json",
        ]),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub.add_argument("--quick", action="store_true", help="a small, fast run (seconds, not minutes)")
    sub.add_argument("--json", action="store_true",
                     help="after the table, print one JSON object with every result on the last line")
    sub.add_argument("--save", metavar="PATH",
                     help="also write every result, with each many-clients run, to a JSON file at PATH")
    sub.set_defaults(run=run, prog=sub.prog)


def run(args) -> int:
    """Measure, print the table (and the JSON line), save if asked; return the exit code."""
    if args.save is not None:
        check_save_path(args.save)  # before the run: a minute of measuring must not be lost to a typo
    # Imported here, not at the top: the measuring machinery (the server models, asyncio, the
    # C toolchain) is a quarter of the start-up time of every other command, `serve` included.
    from ..bench import manyclients, suite

    plan = suite.QUICK if args.quick else suite.FULL
    progress = Progress(plan.steps)
    results = suite.measure_all(plan, on_step=progress.step, on_run=progress.run)
    progress.finish()
    print(table(results), flush=True)
    for problem in results.problems:
        say(f"{args.prog}: warning: {problem.step}: {one_line(problem.message)}")
    summary = results.summary()
    if args.json:
        print(json.dumps(summary), flush=True)
    code = EXIT_FAILED if results.failed else EXIT_OK
    if args.save is not None:
        about = {"summary": summary, "python": platform.python_version(), "system": platform.system(),
                 "release": platform.release(), "cpus": os.cpu_count(), "fd_limit": list(manyclients.fd_limit()),
                 "command": f"python -m sockcourse bench{' --quick' if args.quick else ''} --save {args.save}"}
        try:
            manyclients.save(results.runs, args.save, **about)
        except OSError as exc:  # checked before the run, so the disk filled up or the folder went away
            say(f"{args.prog}: error: Could not save the results to {args.save!r} ({exc.strerror or exc}); "
                f"the table above holds them, and --json prints them as one line.")
            code = EXIT_FAILED
    return code


def check_save_path(path: str) -> None:
    """Refuse, before anything is measured, a --save PATH that could not be written.

    Tried for real (opened for writing, and removed again if it was new),
    because permission bits do not tell: root may write anywhere, a
    read-only file system refuses even root.
    """
    if not path:
        raise UsageError("The option --save takes the path of a file, but got ''; for example --save measured.json.")
    if os.path.isdir(path):
        raise UsageError(f"The --save path {path!r} is a folder; name a file in it, for example "
                         f"--save {os.path.join(path, 'measured.json')}.")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise UsageError(f"The --save path {path!r} is in a folder that does not exist ({folder}); "
                         f"create the folder first, or save somewhere else, for example --save measured.json.")
    existed = os.path.exists(path)
    try:
        # Append: an existing file keeps its contents until the results replace them;
        # non-blocking: a FIFO with no reader refuses at once instead of hanging.
        os.close(os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK, 0o644))
    except OSError as exc:
        raise UsageError(f"The results could not be saved to {path!r} ({exc.strerror or exc}); pass --save "
                         f"a file in a folder you may write to, for example --save measured.json.") from None
    if not existed:
        os.unlink(path)


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

    def run(self, model: str, clients: int, run) -> None:
        """manyclients.sweep's progress: a line as each run starts, and one more if it failed."""
        if run is None:
            self._say(f"      {model}: {clients:,} concurrent clients")
        elif not run.ok:
            self._say(f"      {model}: {clients:,} clients failed ({why(run)})")

    def _say(self, line: str) -> None:
        elapsed = time.monotonic() - self.started
        line = f"{line}  ({elapsed:.0f} s)"
        self._write("\r\033[K" + line if self.live else line + "\n")

    def finish(self) -> None:
        self._write(("\r\033[K" if self.live else "")
                    + f"bench: finished in {time.monotonic() - self.started:.0f} s\n")

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):
            pass  # the terminal went away; the measurements go on, and the table has them


# -- the table -------------------------------------------------------------------------------
def why(run) -> str:
    """Why a many-clients run did not serve everyone, in a few words."""
    if run.note:
        return run.note
    if run.gave_up:
        return run.gave_up
    if run.failed:
        return ", ".join(f"{count} {reason}" for reason, count in run.failed.items())
    if run.wrong:
        return f"{run.wrong} echoes came back wrong"
    return run.server_error or "unknown"


def _number(value, unit: str, digits: int = 1) -> str:
    if value is None:
        return "n/a"
    return f"{value:.{digits}f} {unit}" if unit else f"{value:.{digits}f}"


def _spread(result: dict, name: str, trials: str) -> str:
    if result.get(f"{name}_min") is None or result.get(f"{name}_max") is None:
        return ""
    return f"{result[f'{name}_min']:.2f}-{result[f'{name}_max']:.2f} ({result[trials]})"


def breakdown(result: dict, trials: int) -> list[str]:
    """Where Python's time goes: the TCP round trip with Python or C at each end, and what each side adds."""
    c_c, pp = result.get("c_rtt_us"), result.get("rtt_us")
    rows = (("C client, C echo peer", c_c, ""),
            ("Python client, C echo peer", result.get("py_client_c_server_rtt_us"), "Python as the client"),
            ("C client, Python echo peer", result.get("c_client_py_server_rtt_us"), "Python as the echo peer"),
            ("Python client, Python echo peer", pp, "Python at both ends"))
    lines = [f"where Python's time goes (TCP round trip, 1 byte, median of {trials} trials)"]
    for label, value, adds in rows:
        extra = f"   {value - c_c:+.1f} µs: {adds}" if adds and value is not None and c_c is not None else ""
        lines.append(f"  {label:<34}{_number(value, 'µs'):>10}{extra}")
    lines.append("(each against the first row; the two halves need not add up to the whole, since both ends "
                 "share one CPU and its caches)")
    return lines


def table(results) -> str:
    """The results of `bench.suite.measure_all()` as a readable text table."""
    result, runs, plan = results.values, results.runs, results.plan
    cpu = results.pinned_cpu
    pinned = f"both ends on CPU {cpu}" if cpu is not None else "wherever the OS put them"
    streams = f"both ends on CPU {cpu}, for iperf3 too" if cpu is not None else "both ends wherever the OS put them"
    lines = [
        f"sockcourse bench ({plan.name}) on {platform.system()} {platform.release()}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}",
        "",
        f"{'measurement':<36}{'this course':>14}{'yardstick':>24}{'ratio':>8}{'min-max (trials)':>20}",
        f"{'loopback TCP throughput':<36}{_number(result['tcp_gbps'], 'Gbit/s'):>14}"
        f"{'iperf3 ' + _number(result['iperf3_gbps'], 'Gbit/s'):>24}{_number(result['throughput_ratio'], '', 2):>8}"
        f"{_spread(result, 'throughput_ratio', 'throughput_trials'):>20}",
        f"{'TCP round trip, 1 byte, median':<36}{_number(result['rtt_us'], 'µs'):>14}"
        f"{'C ' + _number(result['c_rtt_us'], 'µs'):>24}{_number(result['rtt_ratio'], '', 2):>8}"
        f"{_spread(result, 'rtt_ratio', 'rtt_trials'):>20}",
        f"{'the same, against sockperf':<36}{_number(result['rtt_us'], 'µs'):>14}"
        f"{'sockperf ' + _number(result['sockperf_rtt_us'], 'µs'):>24}"
        f"{_number(result['sockperf_ratio'], '', 2):>8}{_spread(result, 'sockperf_ratio', 'sockperf_trials'):>20}",
        f"{'UNIX stream throughput':<36}{_number(result['unix_gbps'], 'Gbit/s'):>14}",
        f"{'UNIX round trip, 1 byte, median':<36}{_number(result['unix_rtt_us'], 'µs'):>14}",
        f"(round trips: the median of {plan.trials} interleaved trials, {pinned}; in each, every pairing takes "
        f"turns of {plan.turn_rounds:,} round trips;",
        " a ratio: the median of the trials' own, each the median of its Python and C turns side by side;",
        f" throughput: the best of {plan.repeats} run(s) each, its ratio run by run, {streams})",
        "",
        *breakdown(result, plan.trials),
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
    for model in results.models:
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
            lines.append(f"  {run.model} with {run.clients:,} clients: {why(run)}")
        elif run.server_error:
            lines.append(f"  {run.model} with {run.clients:,} clients served everyone, but {run.server_error}")
    return "\n".join(lines)
