"""Measure what sockcourse's link adds to a TCP round trip when it injects no fault.

    python tools/bench_link.py [ROUND_TRIPS]
    python tools/bench_link.py --stop CONNECTIONS

A client ping-pongs one byte with an echo server (TCP_NODELAY on), once
directly and once through `sockcourse.link.link()` with every fault off, and
prints the median round trip of each and the difference. The two runs take
turns in blocks, so a burst of load on the machine hits both alike. The
target is at most 0.2 ms added per round trip.

With --stop it opens CONNECTIONS idle connections through a link (at most
the link's MAX_CONNECTIONS) and prints how long `stop()` takes to end them
all; the target is STOP_TARGET_S.
"""

from __future__ import annotations

import socket
import statistics
import sys
import time

from sockcourse import handlers, serve
from sockcourse.link import MAX_CONNECTIONS, link

#: Added median round trip, in milliseconds, that the link should stay under.
TARGET_MS = 0.2
#: Seconds a stop() of 100 open connections should stay under.
STOP_TARGET_S = 0.5
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


def stop_time(connections: int) -> float:
    """Seconds `stop()` takes with `connections` idle connections open through a link (each used once)."""
    if isinstance(connections, bool) or not isinstance(connections, int) or not 1 <= connections <= MAX_CONNECTIONS:
        raise ValueError(f"The number of connections must be a whole number from 1 to {MAX_CONNECTIONS} (the "
                         f"link's limit), but got {connections!r}; for example 100.")
    with serve(handlers.echo) as server:
        relay = link(server.address)
        clients = [_connect(relay.address) for _ in range(connections)]
        try:
            for client in clients:
                round_trips(client, 1)
            start = time.perf_counter()
            relay.stop()
            return time.perf_counter() - start
        finally:
            relay.stop()
            for client in clients:
                client.close()


def main(argv: list[str]) -> int:
    if argv[:1] == ["--stop"]:
        text = argv[1] if len(argv) > 1 else "100"
        try:
            if not text.isascii() or not text.isdigit():
                raise ValueError(f"The number of connections must be a whole number, but got {text!r}; "
                                 f"for example: python tools/bench_link.py --stop 100.")
            took = stop_time(int(text))
        except ValueError as exc:
            print(f"bench_link: {exc}", file=sys.stderr)
            return 2
        verdict = "within" if took <= STOP_TARGET_S else "above"
        print(f"stop() of a link with {text} open connections: {took:.3f} s ({verdict} {STOP_TARGET_S} s)")
        return 0
    try:
        text = argv[0] if argv else "5000"
        if not text.isascii() or not text.isdigit():
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
