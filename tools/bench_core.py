"""Benchmark of the core's fixed costs: how long serve() takes to start and stop, and the import.

Not a test: it prints a small table so a change that makes the notebooks feel
slow shows up as a number. Run it with the course's Python:

    .venv/bin/python tools/bench_core.py [--cycles 200] [--imports 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

#: What the course aims for: a cell that starts and stops a server should not
#: feel slower than one that does not, and the first cell should run at once.
TARGET_CYCLE_MS = 10.0
TARGET_IMPORT_S = 0.5


def time_cycles(cycles: int, transport: str) -> list[float]:
    """Milliseconds of each serve()+stop() pair."""
    import sockcourse

    times = []
    for _ in range(cycles):
        started = time.perf_counter()
        server = sockcourse.serve(sockcourse.handlers.echo, transport=transport)
        server.stop()
        times.append((time.perf_counter() - started) * 1000)
    return times


def time_imports(runs: int) -> list[float]:
    """Seconds of `import sockcourse` in a fresh interpreter, measured inside it."""
    # Timed in the child, so the interpreter's own start-up is not counted.
    probe = ("import time; t = time.perf_counter(); import sockcourse; "
             "print(time.perf_counter() - t)")
    times = []
    for _ in range(runs):
        done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                              timeout=60, check=True)
        times.append(float(done.stdout.strip()))
    return times


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=200, help="serve()+stop() pairs per transport")
    parser.add_argument("--imports", type=int, default=5, help="fresh interpreters that import sockcourse")
    args = parser.parse_args(argv)
    if args.cycles < 1 or args.imports < 1:
        parser.error(f"--cycles and --imports must be 1 or more, but got {args.cycles} and "
                     f"{args.imports}; the defaults are 200 and 5.")

    rows = []
    for transport in ("tcp", "udp", "unix"):
        times = time_cycles(args.cycles, transport)
        rows.append((f"serve()+stop() {transport}, ms", statistics.median(times), max(times),
                     TARGET_CYCLE_MS, args.cycles))
    imports = time_imports(args.imports)
    rows.append(("import sockcourse, s", statistics.median(imports), max(imports),
                 TARGET_IMPORT_S, args.imports))

    print(f"{'measure':<28} {'median':>9} {'max':>9} {'target':>8} {'runs':>5}  ok")
    for name, median, worst, target, runs in rows:
        print(f"{name:<28} {median:>9.3f} {worst:>9.3f} {target:>8.2f} {runs:>5}  "
              f"{'yes' if median <= target else 'NO'}")
    return 0 if all(median <= target for _, median, _, target, _ in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
