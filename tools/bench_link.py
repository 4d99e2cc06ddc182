"""Measure what sockcourse's link adds to a TCP round trip when it injects no fault.

    python tools/bench_link.py [ROUND_TRIPS]

A client ping-pongs one byte with an echo server (TCP_NODELAY on), once
directly and once through `sockcourse.link.link()` with every fault off, and
prints the median round trip of each and the difference. The two runs take
turns in blocks, so a burst of load on the machine hits both alike. The
target is at most 0.2 ms added per round trip.
"""

from __future__ import annotations

import socket
import statistics
import sys
import time

from sockcourse import handlers, serve
from sockcourse.link import link

#: Added median round trip, in milliseconds, that the link should stay under.
TARGET_MS = 0.2
BLOCKS = 10
WARM_UP = 50


def round_trips(sock: socket.socket, count: int) -> list[float]:
    """Ping-pong one byte `count` times; return each round trip in seconds."""
    times = []
    for _ in range(count):
        start = time.perf_counter()
        sock.sendall(b"x")
        if sock.recv(1) != b"x":
            raise RuntimeError("The echo server closed the connection in the middle of the benchmark.")
        times.append(time.perf_counter() - start)
    return times


def _connect(address) -> socket.socket:
    sock = socket.create_connection(address, timeout=5)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def measure(count: int = 5000) -> dict:
    """Median round trips direct and through a fault-free link, in milliseconds."""
    if isinstance(count, bool) or not isinstance(count, int) or count < BLOCKS:
        raise ValueError(f"The number of round trips must be a whole number of at least {BLOCKS}, "
                         f"but got {count!r}; for example 5000.")
    direct, relayed = [], []
    with serve(handlers.echo) as server, link(server.address) as relay:
        with _connect(server.address) as plain, _connect(relay.address) as through:
            round_trips(plain, WARM_UP)
            round_trips(through, WARM_UP)
            for _ in range(BLOCKS):
                direct += round_trips(plain, count // BLOCKS)
                relayed += round_trips(through, count // BLOCKS)
    direct_ms = statistics.median(direct) * 1000
    relayed_ms = statistics.median(relayed) * 1000
    return {"round_trips": len(direct), "direct_ms": direct_ms, "link_ms": relayed_ms,
            "added_ms": relayed_ms - direct_ms}


def main(argv: list[str]) -> int:
    try:
        text = argv[0] if argv else "5000"
        if not text.isdigit():
            raise ValueError(f"The number of round trips must be a whole number, but got {text!r}; "
                             f"for example: python tools/bench_link.py 5000.")
        result = measure(int(text))
    except ValueError as exc:
        print(f"bench_link: {exc}", file=sys.stderr)
        return 2
    print(f"{result['round_trips']} round trips of 1 byte each, TCP_NODELAY, loopback")
    print(f"median direct:       {result['direct_ms']:.3f} ms")
    print(f"median through link: {result['link_ms']:.3f} ms")
    verdict = "within" if result["added_ms"] <= TARGET_MS else "above"
    print(f"added by the link:   {result['added_ms']:.3f} ms ({verdict} the target of {TARGET_MS} ms)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
