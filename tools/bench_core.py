"""Benchmark of the course's fixed costs: the import, serve() start and stop, and stops under load.

Not a test: it prints a small table so a change that makes the notebooks feel
slow shows up as a number. Run it with the course's Python:

    .venv/bin/python tools/bench_core.py [--cycles 200] [--imports 5] [--rounds 5]

The stops under load are the ones that once took seconds: the link with 100
open connections (each took about a second), and an asyncio server whose
clients are busy sending when it stops.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import threading
import time

#: What the course aims for: a cell that starts and stops a server should not
#: feel slower than one that does not, and the first cell should run at once.
TARGET_CYCLE_MS = 1.0
TARGET_IMPORT_S = 0.1
#: A stop under load must still feel immediate.
TARGET_LINK_STOP_S = 0.5
TARGET_ASYNC_STOP_S = 0.2


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


def time_link_stops(rounds: int, connections: int = 100) -> list[float]:
    """Seconds of Link.stop() with `connections` open (and idle) connections through it."""
    import sockcourse
    from sockcourse.link import link

    times = []
    with sockcourse.serve(sockcourse.handlers.echo) as server:
        for _ in range(rounds):
            relay = link(server)
            clients = [socket.create_connection(relay.address, timeout=5) for _ in range(connections)]
            try:
                for client in clients:  # each one really through, both ways
                    client.sendall(b"x")
                    client.recv(1)
                started = time.perf_counter()
                relay.stop()
                times.append(time.perf_counter() - started)
            finally:
                for client in clients:
                    client.close()
    return times


def time_async_stops(rounds: int, clients: int = 3) -> list[float]:
    """Seconds of AsyncServer.stop() while `clients` clients send as fast as they can."""
    from sockcourse import aio

    async def echo(reader, writer):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()

    times = []
    for _ in range(rounds):
        server = aio.serve_async(echo)
        done = threading.Event()

        def chatter():
            with socket.create_connection(server.address, timeout=5) as sock:
                try:
                    while not done.is_set():
                        sock.sendall(b"y" * 1024)
                        sock.recv(65536)
                except OSError:
                    pass  # the server went away under us: that is the stop being measured

        threads = [threading.Thread(target=chatter, daemon=True) for _ in range(clients)]
        for thread in threads:
            thread.start()
        time.sleep(0.2)  # every client is mid-conversation now
        started = time.perf_counter()
        server.stop()
        times.append(time.perf_counter() - started)
        done.set()
        for thread in threads:
            thread.join(5)
    aio.loop_thread().stop()
    return times


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=200, help="serve()+stop() pairs per transport")
    parser.add_argument("--imports", type=int, default=5, help="fresh interpreters that import sockcourse")
    parser.add_argument("--rounds", type=int, default=5, help="stops under load of each kind")
    args = parser.parse_args(argv)
    if min(args.cycles, args.imports, args.rounds) < 1:
        parser.error(f"--cycles, --imports and --rounds must be 1 or more, but got {args.cycles}, "
                     f"{args.imports} and {args.rounds}; the defaults are 200, 5 and 5.")

    rows = []
    for transport in ("tcp", "udp", "unix"):
        times = time_cycles(args.cycles, transport)
        rows.append((f"serve()+stop() {transport}, ms", statistics.median(times), max(times),
                     TARGET_CYCLE_MS, args.cycles))
    imports = time_imports(args.imports)
    rows.append(("import sockcourse, s", statistics.median(imports), max(imports),
                 TARGET_IMPORT_S, args.imports))
    links = time_link_stops(args.rounds)
    rows.append(("Link.stop() 100 conns, s", statistics.median(links), max(links), TARGET_LINK_STOP_S,
                 args.rounds))
    stops = time_async_stops(args.rounds)
    rows.append(("serve_async stop 3 busy, s", statistics.median(stops), max(stops), TARGET_ASYNC_STOP_S,
                 args.rounds))

    print(f"{'measure':<28} {'median':>9} {'max':>9} {'target':>8} {'runs':>5}  ok")
    for name, median, worst, target, runs in rows:
        print(f"{name:<28} {median:>9.3f} {worst:>9.3f} {target:>8.2f} {runs:>5}  "
              f"{'yes' if median <= target else 'NO'}")
    return 0 if all(median <= target for _, median, _, target, _ in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
