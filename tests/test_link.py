"""Tests of the fault-injecting link on real loopback sockets, its command line and its panel.

Each test puts a real link between a real client socket and a real server and
checks both ends: what the link says it did (its record) and what the server
saw (its trace). Sockets have timeouts and waits have deadlines, so a broken
link fails a test instead of hanging it. Datagrams are sent in small batches,
each waited for, so the kernel never drops one for lack of buffer space and
the seeded decisions are the only losses.
"""

from __future__ import annotations

import argparse
import os
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import sockcourse
from sockcourse import handlers, registry, serve
from sockcourse.cli import link as link_cli
from sockcourse.link import Hop, link
from conftest import ipv6_loopback_available, recv_exactly, wait_for

# The module, whatever the name `sockcourse.link` is bound to (the package may export the function).
link_module = sys.modules["sockcourse.link"]

pytestmark = pytest.mark.timeout(60)

CLIENT_TIMEOUT = 5.0
ROOT = Path(__file__).resolve().parent.parent
BATCH = 50


# -- helpers ---------------------------------------------------------------------
def udp_client() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(CLIENT_TIMEOUT)
    sock.bind(("127.0.0.1", 0))
    return sock


def hops(relay, direction="to_server", *actions) -> list[Hop]:
    return [h for h in relay.record if h.direction == direction and (not actions or h.action in actions)]


def send_paced(client: socket.socket, relay, messages: list[bytes]) -> None:
    """Send datagrams in batches, waiting until the link has decided about each batch."""
    for start in range(0, len(messages), BATCH):
        batch = messages[start:start + BATCH]
        for message in batch:
            client.sendto(message, relay.address)
        done = start + len(batch)
        # Every datagram ends as exactly one hop that is not a copy: passed on or dropped.
        wait_for(lambda: len([h for h in hops(relay) if h.action != "duplicated"]) >= done,
                 5.0, f"the link to decide about {done} datagrams")


def received(server) -> list[bytes]:
    return [e.data for e in server.trace.of_kind("recvfrom")]


def passed_on(relay, direction="to_server") -> list[Hop]:
    return [h for h in hops(relay, direction) if h.action not in ("dropped", "reset")]


def link_threads(relay) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(f"sockcourse-link-{relay.port}-")]


def open_fds() -> int | None:
    return len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else None


def numbered(count: int) -> list[bytes]:
    return [b"%05d" % i for i in range(count)]


# -- UDP -------------------------------------------------------------------------
def _lossy_run(seed: int, count: int = 2000):
    with serve(handlers.discard, transport="udp") as server, \
            link(server.address, transport="udp", loss=0.2, seed=seed) as relay:
        with udp_client() as client:
            send_paced(client, relay, numbered(count))
        delivered = len(passed_on(relay))
        wait_for(lambda: len(received(server)) >= delivered, 5.0, "the server to read every datagram")
        dropped = [h.data for h in hops(relay, "to_server", "dropped")]
        return dropped, received(server), relay.counts("to_server")


def test_udp_loss_rate_is_seeded_and_repeats_exactly():
    count = 2000
    dropped, got, counts = _lossy_run(seed=7, count=count)
    rate = len(dropped) / count
    assert abs(rate - 0.2) <= 0.03, f"loss=0.2 dropped {rate:.3f} of {count} datagrams"
    assert counts["dropped"] == len(dropped) and counts["delivered"] == count - len(dropped)
    # The server got exactly the others, each once and in order.
    assert got == [m for m in numbered(count) if m not in set(dropped)]

    again, got_again, _ = _lossy_run(seed=7, count=count)
    assert again == dropped and got_again == got
    other, _, _ = _lossy_run(seed=8, count=count)
    assert other != dropped


def test_udp_keeps_order_without_reorder_even_with_jitter():
    messages = numbered(200)
    with serve(handlers.echo, transport="udp") as server, \
            link(server.address, transport="udp", delay=0.002, jitter=0.01) as relay:
        with udp_client() as client:
            send_paced(client, relay, messages)
            answers = [client.recv(100) for _ in messages]
    assert received(server) == messages
    assert answers == messages
    assert relay.count("delayed", "to_server") == len(messages)
    assert relay.count("reordered") == relay.count("dropped") == relay.count("duplicated") == 0


def test_udp_duplication_and_reordering_are_visible_and_counted():
    messages = numbered(300)
    with serve(handlers.discard, transport="udp") as server, \
            link(server.address, transport="udp", seed=3) as relay:
        relay.set("to_server", duplicate=0.2, reorder=0.2)
        with udp_client() as client:
            send_paced(client, relay, messages)
        wait_for(lambda: len(received(server)) >= len(passed_on(relay)), 5.0, "every datagram to arrive")
        got = received(server)
        counts = relay.counts("to_server")
    assert counts["duplicated"] > 0 and counts["reordered"] > 0
    assert counts["dropped"] == 0
    assert len(got) == len(messages) + counts["duplicated"]
    assert sorted(set(got)) == messages
    # Each reordered datagram arrives right after the one that overtook it: one step back each.
    steps_back = sum(1 for before, after in zip(got, got[1:]) if after < before)
    assert steps_back == counts["reordered"]
    copies = sum(1 for before, after in zip(got, got[1:]) if after == before)
    assert copies == counts["duplicated"]


def test_udp_datagrams_keep_their_boundaries():
    sizes = [1, 7, 1000, 9000, 60000, 3]
    with serve(handlers.echo, transport="udp") as server, \
            link(server.address, transport="udp", delay=0.001) as relay:
        with udp_client() as client:
            for size in sizes:
                payload = bytes([size % 251]) * size
                client.sendto(payload, relay.address)
                answer, source = client.recvfrom(65535)
                assert answer == payload and source == tuple(relay.address)
    assert [e.nbytes for e in server.trace.of_kind("recvfrom")] == sizes
    assert [h.nbytes for h in hops(relay, "to_server")] == sizes
    assert [h.nbytes for h in hops(relay, "to_client")] == sizes


def test_udp_record_is_bounded(monkeypatch):
    monkeypatch.setattr(sys.modules["sockcourse.link.record"], "MAX_HOPS", 5)  # where the record reads it
    with serve(handlers.discard, transport="udp") as server, \
            link(server.address, transport="udp") as relay:
        with udp_client() as client:
            for message in numbered(12):
                client.sendto(message, relay.address)
            wait_for(lambda: relay.record_overflow == 7, 5.0, "the record to overflow")
    assert len(relay.record) == 5


# -- TCP -------------------------------------------------------------------------
def test_tcp_chunking_delivers_every_byte_in_small_pieces():
    message = b"abcdefghijklmnopq"
    with serve(handlers.echo) as server, link(server.address) as relay:
        # A wide gap lets the server read each piece on its own even on a busy machine.
        relay.set("to_server", chunk=4, gap=0.05)
        with socket.create_connection(relay.address, timeout=CLIENT_TIMEOUT) as client:
            client.sendall(message)
            client.shutdown(socket.SHUT_WR)
            answer = b""
            while part := client.recv(100):  # ends with the FIN the link passed on
                answer += part
        wait_for(lambda: server.trace.of_kind("close"), 5.0, "the server to close")
    assert answer == message
    pieces = hops(relay, "to_server")
    assert [h.nbytes for h in pieces] == [4, 4, 4, 4, 1]
    assert b"".join(h.data for h in pieces) == message
    seen = server.trace.of_kind("recv")
    assert all(e.nbytes <= 4 for e in seen), [e.nbytes for e in seen]
    assert b"".join(e.data for e in seen) == message
    assert server.trace.of_kind("eof"), "the client's FIN must reach the server"


def test_injected_reset_reaches_the_client_as_connection_reset():
    with serve(handlers.echo) as server, link(server.address) as relay:
        relay.set("to_server", reset_after=5)
        with socket.create_connection(relay.address, timeout=CLIENT_TIMEOUT) as client:
            client.sendall(b"0123456789")
            with pytest.raises(ConnectionResetError):
                for _ in range(100):  # an echo of the first bytes may come before the RST
                    if not client.recv(100):
                        pytest.fail("The client got a FIN (b''), not the RST the link should send.")
        wait_for(lambda: server.trace.of_kind("reset"), 5.0, "the server to see the RST too")
        assert server.trace.bytes_in() == 5
    assert relay.count("reset") == 1
    assert [h.why for h in relay.record if h.action == "reset"] == [""]  # the setting decided
    assert sum(h.nbytes for h in passed_on(relay)) == 5


def test_tcp_loss_delays_but_never_loses_or_reorders_bytes():
    messages = [b"m%03d" % i for i in range(30)]
    with serve(handlers.echo) as server, link(server.address, loss=0.2, rto=0.05, seed=11) as relay:
        with socket.create_connection(relay.address, timeout=10) as client:
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for message in messages:
                client.sendall(message)
                time.sleep(0.01)
            answer = recv_exactly(client, 4 * len(messages))
    stream = b"".join(messages)
    assert answer == stream
    for direction in ("to_server", "to_client"):
        assert b"".join(h.data for h in passed_on(relay, direction)) == stream
    counts = relay.counts()
    assert counts["dropped"] > 0 and counts["retransmitted"] > 0 and counts["reset"] == 0
    # A retransmitted piece waited at least one retransmission timeout...
    assert all(h.held >= 0.045 for h in relay.record if h.action == "retransmitted")
    # ...and pieces behind it waited for it: head-of-line blocking.
    assert counts["delayed"] > 0


def test_tcp_gives_up_and_resets_when_every_retry_is_lost():
    with serve(handlers.echo) as server, link(server.address, rto=0.01) as relay:
        relay.set("to_server", loss=1.0)
        with socket.create_connection(relay.address, timeout=CLIENT_TIMEOUT) as client:
            start = time.monotonic()
            client.sendall(b"hopeless")
            with pytest.raises(ConnectionResetError):
                client.recv(10)
            waited = time.monotonic() - start
    # The retries waited 10, 20, 40, 80 and 160 ms before the link gave up.
    assert waited >= 0.3
    assert relay.count("dropped") == link_module.MAX_RETRANSMITS + 1
    assert relay.count("reset") == 1 and server.trace.bytes_in() == 0
    assert [h.why for h in relay.record if h.action == "reset"] == ["retries"]


def test_stop_does_not_wait_for_data_held_back():
    with serve(handlers.echo) as server:
        relay = link(server.address, delay=5.0)
        with socket.create_connection(relay.address, timeout=CLIENT_TIMEOUT) as client:
            client.sendall(b"late")
            wait_for(lambda: relay.open_connections, 2.0, "the link to take the connection")
            start = time.monotonic()
            relay.stop()
            assert time.monotonic() - start < 2.0
            assert client.recv(10) == b""  # the held bytes were thrown away; a FIN came instead
    assert server.trace.bytes_in() == 0


def test_a_fault_free_tcp_link_passes_every_byte_and_the_fins():
    payload = bytes(range(256)) * 400  # 100 kB, more than one recv() at a time
    with serve(handlers.echo) as server, link(server.address) as relay:
        with socket.create_connection(relay.address, timeout=CLIENT_TIMEOUT) as client:
            sender = threading.Thread(target=client.sendall, args=(payload,), daemon=True)
            sender.start()
            answer = recv_exactly(client, len(payload))
            sender.join(CLIENT_TIMEOUT)
            client.shutdown(socket.SHUT_WR)
            assert client.recv(10) == b""
    assert answer == payload
    assert set(h.action for h in relay.record) == {"delivered"}
    assert sum(h.nbytes for h in hops(relay, "to_client")) == len(payload)


def test_a_link_on_ipv6_loopback_in_front_of_an_ipv6_server():
    if not ipv6_loopback_available():
        pytest.skip("IPv6 loopback (::1) cannot be bound on this machine")
    with serve(handlers.upper, host="::1") as server, link(server.address, host="::1", chunk=2) as relay:
        assert relay.host == "::1"
        with socket.create_connection(relay.address, timeout=CLIENT_TIMEOUT) as client:
            client.sendall(b"six")
            assert recv_exactly(client, 3) == b"SIX"
    assert [h.nbytes for h in hops(relay)] == [2, 1]


def test_a_client_of_a_link_without_a_server_hears_a_reset():
    server = serve(handlers.echo)
    address = server.address
    server.stop()
    with link(address) as relay:
        # The reset can come so fast that connect() itself reports it.
        with pytest.raises(ConnectionResetError):
            with socket.create_connection(relay.address, timeout=CLIENT_TIMEOUT) as client:
                client.recv(10)
    assert relay.count("reset", "to_client") == 1
    assert [h.why for h in relay.record] == ["no server"]


# -- settings --------------------------------------------------------------------
BAD = [
    (dict(loss=1.5), "tcp", ValueError, ["1.5", "probability", "loss=0.2"]),
    (dict(delay=-0.1), "tcp", ValueError, ["-0.1", "delay=0"]),
    (dict(delay=100), "tcp", ValueError, ["100", "seconds"]),
    (dict(duplicate=0.1), "tcp", ValueError, ["duplicate=0.1", "udp"]),
    (dict(reorder=0.1), "tcp", ValueError, ["reorder=0.1", "udp"]),
    (dict(chunk=10), "udp", ValueError, ["chunk=10", "tcp"]),
    (dict(reset_after=5), "udp", ValueError, ["reset_after=5", "tcp"]),
    (dict(lost=0.1), "tcp", TypeError, ["'lost'", "did you mean loss?"]),
    (dict(loss="0.2"), "tcp", TypeError, ["'0.2'", "str", "a number"]),
    (dict(chunk=2.5), "tcp", TypeError, ["2.5", "whole number"]),
    (dict(loss=True), "tcp", TypeError, ["True", "bool"]),
    (dict(loss=float("nan")), "tcp", ValueError, ["nan"]),
    (dict(chunk=0), "tcp", ValueError, ["0", "chunk=None"]),
]


@pytest.mark.parametrize("settings, transport, error, words", BAD, ids=[str(b[0]) for b in BAD])
def test_bad_settings_are_refused_with_a_sentence_before_any_socket(settings, transport, error, words):
    fds, threads = open_fds(), threading.active_count()
    with pytest.raises(error) as caught:
        link(("127.0.0.1", 9), transport=transport, **settings)
    message = str(caught.value)
    assert message[0].isupper() and message.endswith(".")
    for word in words:
        assert word in message, (word, message)
    assert open_fds() == fds and threading.active_count() == threads
    assert registry.running() == []


@pytest.mark.parametrize("to, words", [
    (("192.0.2.1", 80), ["'192.0.2.1'", "loopback"]),
    (("example.com", 80), ["'example.com'", "loopback"]),
    (("127.0.0.1", 0), ["Port 0"]),
    (("127.0.0.1", 70000), ["70000"]),
    ("127.0.0.1:80", ["(host, port)"]),
])
def test_targets_off_loopback_or_malformed_are_refused_before_any_packet(to, words):
    fds, threads = open_fds(), threading.active_count()
    with pytest.raises((ValueError, TypeError)) as caught:
        link(to)
    for word in words:
        assert word in str(caught.value), (word, str(caught.value))
    assert open_fds() == fds and threading.active_count() == threads
    assert registry.running() == []


def test_set_while_running_changes_behaviour_and_checks_everything_first():
    def round_trip(client) -> float:
        start = time.monotonic()
        client.sendall(b"?")
        assert client.recv(1) == b"?"
        return time.monotonic() - start

    with serve(handlers.echo) as server, link(server.address) as relay:
        with socket.create_connection(relay.address, timeout=CLIENT_TIMEOUT) as client:
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            before = round_trip(client)
            settings = relay.set("to_server", delay=0.3)
            assert settings["to_server"]["delay"] == 0.3 and settings["to_client"]["delay"] == 0.0
            slow = round_trip(client)
            relay.set("to_server", delay=0)
            after = round_trip(client)
            with pytest.raises(ValueError, match="1.5"):
                relay.set("both", delay=0.1, loss=1.5)
            assert relay.settings["to_server"]["delay"] == 0.0, "a refused set() must change nothing"
            with pytest.raises(ValueError, match="'sideways'"):
                relay.set("sideways", delay=0.1)
    assert slow >= 0.3 > max(before, after)
    assert [h.action for h in hops(relay, "to_server")] == ["delivered", "delayed", "delivered"]


def test_udp_loss_set_while_running_drops_what_follows():
    with serve(handlers.discard, transport="udp") as server, \
            link(server.address, transport="udp") as relay:
        with udp_client() as client:
            send_paced(client, relay, numbered(10))
            relay.set("to_server", loss=1.0)
            send_paced(client, relay, numbered(10))
        wait_for(lambda: len(received(server)) >= 10, 5.0, "the server to read the first ten")
    assert [h.action for h in hops(relay)] == ["delivered"] * 10 + ["dropped"] * 10
    assert received(server) == numbered(10)


# -- life cycle --------------------------------------------------------------------
def test_stop_twice_frees_everything():
    server = serve(handlers.echo)
    try:
        relay = link(server, loss=0.1)  # a Server works as well as its address
        assert relay.target == tuple(server.address) and relay in registry.running()
        with socket.create_connection(relay.address, timeout=CLIENT_TIMEOUT) as client:
            client.sendall(b"hi")
            assert recv_exactly(client, 2) == b"hi"
            relay.stop()
            # stop() ended the connection with a FIN to the client.
            assert client.recv(10) == b""
        relay.stop()
        assert not relay.running and relay not in registry.running()
        wait_for(lambda: not link_threads(relay), 2.0, "the link's threads to end")
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(relay.address, timeout=2).close()
        assert "stopped" in repr(relay)
    finally:
        server.stop()
    assert registry.running() == []


def test_stop_all_stops_links_too():
    with serve(handlers.echo, transport="udp") as server:
        relay = link(server.address, transport="udp")
        other = link(server.address, transport="udp", delay=0.01)
        assert sockcourse.stop_all() == 3
    assert not relay.running and not other.running
    assert registry.running() == []


def test_a_bad_stop_timeout_is_refused_and_leaves_the_link_running():
    with serve(handlers.echo) as server, link(server.address) as relay:
        with pytest.raises(ValueError, match="'x'"):
            relay.stop(timeout="x")
        # Refused before anything was stopped: not half-stopped, still relaying.
        assert relay.running and relay in registry.running()
        with socket.create_connection(relay.address, timeout=CLIENT_TIMEOUT) as client:
            client.sendall(b"ok")
            assert recv_exactly(client, 2) == b"ok"
    assert not relay.running and relay not in registry.running()


def test_a_link_is_a_course_endpoint_and_nothing_but_the_package_imports_its_relay():
    from sockcourse.core.lifecycle import Endpoint
    from test_layers import PACKAGE, arrows

    assert issubclass(link_module.Link, Endpoint)
    importers = {arrow.source for arrow in arrows(PACKAGE)[0] if arrow.target == "sockcourse.link.relay"}
    assert importers == {"sockcourse.link"}


def test_an_accept_error_that_is_not_about_capacity_ends_the_loop_and_is_raised_at_stop():
    import errno

    with serve(handlers.echo) as server:
        relay = link(server.address)
        # A listener shut down for reading makes accept() fail with EINVAL: no retry can mend that.
        relay._sock.shutdown(socket.SHUT_RD)
        wait_for(lambda: not relay._thread.is_alive(), 3.0, "the accept loop to end")
        with pytest.raises(sockcourse.SockcourseError, match=r"accept\(\) failed with OSError") as caught:
            relay.stop()
        assert caught.value.__cause__.errno == errno.EINVAL
    assert not relay.running and relay not in registry.running()


_FD_STARVED_LINK = """
import os, resource, socket, sys
from sockcourse.link import link
target = ("127.0.0.1", int(sys.argv[1]))
relay = link(target)
socket.create_connection(target).close()  # what a first connection loads (codecs, resolver) is loaded now
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (max(int(name) for name in os.listdir("/proc/self/fd")) + 16, hard))
spare = []
try:
    while True:
        spare.append(os.open(os.devnull, os.O_RDONLY))
except OSError:
    pass
for fd in spare[-2:]:  # room for exactly one relayed connection: the client's socket and the server's
    os.close(fd)
print(relay.port, flush=True)
sys.stdin.readline()
try:
    relay.stop()
    print("stopped", flush=True)
except Exception as exc:
    print("stop raised", exc, flush=True)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="counts descriptors in /proc/self/fd")
def test_out_of_descriptors_the_accept_loop_waits_and_takes_the_client_later():
    with serve(handlers.echo) as server:
        proc = subprocess.Popen([sys.executable, "-c", _FD_STARVED_LINK, str(server.port)], cwd=ROOT,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            ready, _, _ = select.select([proc.stdout], [], [], 15.0)
            assert ready, "the link in the other process printed no port within 15 s"
            port = int(proc.stdout.readline())
            with socket.create_connection(("127.0.0.1", port), timeout=CLIENT_TIMEOUT) as first:
                first.sendall(b"one")
                assert recv_exactly(first, 3) == b"one"
                second = socket.create_connection(("127.0.0.1", port), timeout=CLIENT_TIMEOUT)
                second.sendall(b"two")  # the link's accept() fails with EMFILE now, and retries
                second.settimeout(0.3)
                with pytest.raises(TimeoutError):  # not relayed: no descriptor to accept it with
                    second.recv(10)
                second.settimeout(CLIENT_TIMEOUT)
            # The first connection's end frees two descriptors: the retry takes the second client.
            with second:
                assert recv_exactly(second, 3) == b"two"
                proc.stdin.write("stop\n")
                proc.stdin.flush()
                out, err = proc.communicate(timeout=10)
                assert second.recv(10) == b""
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate(timeout=5)
    assert out.strip() == "stopped", (out, err)


# -- stopping, however many connections are open ------------------------------------
def open_through(relay, count: int) -> list[socket.socket]:
    """`count` clients through the link, each relayed end to end (one byte there and back)."""
    clients = [socket.create_connection(relay.address, timeout=CLIENT_TIMEOUT) for _ in range(count)]
    for client in clients:
        client.sendall(b"?")
    for client in clients:
        assert recv_exactly(client, 1) == b"?"
    return clients


class Pump:
    """Keeps bytes flowing both ways on many client sockets from one thread, until told to stop (30 s at most)."""

    def __init__(self, socks: list[socket.socket]):
        self.socks = socks
        self.received = [0] * len(socks)
        self._done = threading.Event()
        for sock in socks:
            sock.setblocking(False)
        self._thread = threading.Thread(target=self._run, name="test-pump", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        block = b"s" * 16384
        alive = set(range(len(self.socks)))
        end = time.monotonic() + 30
        while alive and not self._done.is_set() and time.monotonic() < end:
            for i in sorted(alive):
                try:
                    self.socks[i].send(block)
                except BlockingIOError:
                    pass
                except OSError:
                    alive.discard(i)
                    continue
                try:
                    data = self.socks[i].recv(65536)
                except BlockingIOError:
                    continue
                except OSError:
                    alive.discard(i)
                    continue
                if not data:
                    alive.discard(i)
                self.received[i] += len(data)
            self._done.wait(0.001)

    def stop(self) -> None:
        self._done.set()
        self._thread.join(5)


#: Seconds a stop() of up to 100 idle connections may take (the old link took about 1 s per connection).
STOP_BUDGET = 0.5


@pytest.mark.parametrize("count", [1, 20, 100])
def test_stop_ends_every_idle_connection_with_a_fin_both_ways_within_its_budget(count):
    with serve(handlers.echo) as server:
        relay = link(server.address)
        clients = open_through(relay, count)
        try:
            assert relay.open_connections == count
            start = time.monotonic()
            relay.stop(timeout=2.0)  # raises if any of its threads were still busy
            took = time.monotonic() - start
            assert [client.recv(10) for client in clients] == [b""] * count  # FIN, not RST
        finally:
            for client in clients:
                client.close()
        wait_for(lambda: len(server.trace.of_kind("eof")) >= count, 5.0, "the server to see every FIN")
        assert not server.trace.of_kind("reset")
    assert took <= STOP_BUDGET, f"stop() of {count} idle connections took {took:.2f} s"
    wait_for(lambda: not link_threads(relay), 2.0, "the link's threads to end")


@pytest.mark.parametrize("count, faults", [(1, {}), (20, {}), (100, {}),
                                           (20, dict(delay=0.05, loss=0.05, rto=0.05, chunk=1000, gap=0))],
                         ids=["1", "20", "100", "20-faulty"])
def test_stop_returns_soon_and_without_an_error_while_every_connection_streams(count, faults):
    with serve(handlers.echo) as server:
        relay = link(server.address, **faults)
        clients = open_through(relay, count)
        pump = Pump(clients)
        try:
            wait_for(lambda: min(pump.received) >= 32768, 20.0, "every connection to stream")
            start = time.monotonic()
            relay.stop(timeout=2.0)
            took = time.monotonic() - start
        finally:
            pump.stop()
            for client in clients:
                client.close()
    # Reading away what streamed in (so that close() sends FIN) costs a little more than idle sockets do.
    assert took <= 2 * STOP_BUDGET, f"stop() of {count} streaming connections took {took:.2f} s"
    wait_for(lambda: not link_threads(relay), 2.0, "the link's threads to end")


# -- the link's own limits ----------------------------------------------------------
def test_a_tcp_client_beyond_the_cap_is_refused_with_a_reset_hop(monkeypatch):
    monkeypatch.setattr(sys.modules["sockcourse.link.tcp"], "MAX_CONNECTIONS", 3)  # where the relay reads it
    with serve(handlers.echo) as server, link(server.address) as relay:
        clients = open_through(relay, 3)
        try:
            # The reset can come so fast that connect() itself reports it.
            with pytest.raises(ConnectionResetError):
                with socket.create_connection(relay.address, timeout=CLIENT_TIMEOUT) as extra:
                    extra.recv(10)
            refused = [(h.conn, h.direction, h.action, h.why) for h in relay.record if h.action == "reset"]
            assert refused == [(4, "to_client", "reset", "cap")]
            clients[0].sendall(b"still here")
            assert recv_exactly(clients[0], 10) == b"still here"
            # The cap counts connections open now: once one ends there is room again.
            clients.pop().close()
            wait_for(lambda: relay.open_connections == 2, 3.0, "the link to let the closed connection go")
            clients += open_through(relay, 1)
        finally:
            for client in clients:
                client.close()
    assert relay.count("reset") == 1


def test_the_real_tcp_cap_refuses_the_129th_client_and_stops_quickly():
    cap = link_module.MAX_CONNECTIONS
    assert cap == 128
    with serve(handlers.echo) as server:
        relay = link(server.address)
        clients = open_through(relay, cap)
        try:
            with pytest.raises(ConnectionResetError):
                with socket.create_connection(relay.address, timeout=CLIENT_TIMEOUT) as extra:
                    extra.recv(10)
            assert [h.why for h in relay.record if h.action == "reset"] == ["cap"]
            start = time.monotonic()
            relay.stop(timeout=2.0)
            took = time.monotonic() - start
        finally:
            for client in clients:
                client.close()
    assert took <= 2 * STOP_BUDGET, f"stop() of {cap} idle connections took {took:.2f} s"


def test_a_udp_client_forgotten_beyond_the_cap_has_its_datagrams_dropped_and_recorded(monkeypatch):
    monkeypatch.setattr(sys.modules["sockcourse.link.udp"], "MAX_FLOWS", 2)  # where the relay reads it
    with serve(handlers.echo, transport="udp") as server, \
            link(server.address, transport="udp") as relay, \
            udp_client() as first, udp_client() as second, udp_client() as third:
        relay.set("to_client", delay=0.3)  # answers wait inside the link, where forgetting reaches them
        first.sendto(b"first", relay.address)
        wait_for(lambda: server.trace.of_kind("sendto"), 5.0, "the server to answer the first client")
        second.sendto(b"second", relay.address)
        third.sendto(b"third", relay.address)  # a third client: the first, silent longest, is forgotten
        wait_for(lambda: [h for h in relay.record if h.why == "cap"], 5.0, "the forgotten answer's hop")
        assert second.recv(100) == b"second" and third.recv(100) == b"third"
        first.settimeout(0.2)
        with pytest.raises(TimeoutError):
            first.recv(100)
        capped = [(h.conn, h.direction, h.action, h.data) for h in relay.record if h.why == "cap"]
        assert capped == [(1, "to_client", "dropped", b"first")]
        assert relay.count("dropped") == 1 and relay.open_connections == 2
        # The forgotten client comes back as a new client with a new number.
        first.settimeout(CLIENT_TIMEOUT)
        first.sendto(b"again", relay.address)
        assert first.recv(100) == b"again"
        assert [h.conn for h in hops(relay, "to_server")][-1] == 4


def test_a_hop_reads_as_before_with_why_added_last():
    hop = Hop(0.5, "to_server", 1, 3, b"abc", "delivered")
    assert hop.why == "" and hop.held == 0.0
    assert list(hop.as_dict()) == ["t", "direction", "conn", "nbytes", "data", "action", "held", "why"]
    assert set(link_module.REASONS) >= {"", "cap", "retries", "peer", "no server"}


def test_summary_says_what_the_link_did_in_one_line():
    counts = dict.fromkeys(link_module.ACTIONS, 0)
    assert link_module.summary(counts) == "nothing has passed through it"
    counts.update(duplicated=2, delivered=35, dropped=3)
    assert link_module.summary(counts) == "35 delivered, 3 dropped, 2 duplicated"  # in the order of ACTIONS


# -- the command line ---------------------------------------------------------------
def _parser():
    parser = argparse.ArgumentParser(prog="sockcourse")
    link_cli.add_parser(parser.add_subparsers(dest="command"), "sockcourse")
    return parser


def test_cli_options_become_link_settings():
    args = _parser().parse_args(["link", "--to", "[::1]:5000", "--delay", "150", "--jitter", "5",
                                 "--loss", "0.25", "--chunk", "3", "--reset-after", "100", "--rto", "50"])
    assert link_cli.parse_target(args.to) == ("::1", 5000)
    assert link_cli.settings_from(args) == {"delay": 0.15, "jitter": 0.005, "loss": 0.25, "chunk": 3,
                                            "reset_after": 100, "rto": 0.05}
    assert link_cli.parse_target("5000") == ("127.0.0.1", 5000)
    assert link_cli.parse_target("localhost:7") == ("127.0.0.1", 7)


@pytest.mark.parametrize("argv, words", [
    (["--to", "192.0.2.1:80"], ["'192.0.2.1'", "loopback"]),
    (["--to", "somewhere"], ["'somewhere'", "HOST:PORT"]),
    # '\u00b2' passes str.isdigit() and then fails int(): it once gave a traceback.
    (["--to", "127.0.0.1:\u00b2"], ["'127.0.0.1:\u00b2'", "HOST:PORT"]),
    (["--to", "127.0.0.1:70000"], ["'127.0.0.1:70000'", "1 to 65535"]),
    (["--to", "5000", "--loss", "lots"], ["--loss", "'lots'"]),
    (["--to", "5000", "--delay", "-5"], ["--delay", "'-5'", "milliseconds"]),
    (["--to", "5000", "--loss", "1.5"], ["1.5", "--loss 0.2"]),
    (["--to", "5000", "--chunk", "0"], ["--chunk", "'0'", "1 or more"]),
    (["--to", "5000", "--port", "\u00b2"], ["--port", "'\u00b2'", "65535"]),
    (["--to", "5000", "--seed", "x"], ["--seed", "'x'"]),
    (["--to", "5000", "--duplicate", "0.1"], ["--duplicate 0.1", "add --udp"]),
    # The link takes seconds and the options milliseconds: its sentence must say what was typed.
    (["--to", "5000", "--udp", "--rto", "50"], ["--rto 50", "leave --rto out"]),
    (["--to", "5000", "--udp", "--chunk", "3"], ["--chunk 3", "drop --udp"]),
])
def test_cli_refuses_bad_input_with_a_sentence(argv, words):
    from sockcourse.cli import UsageError
    from sockcourse.core.errors import UsageError as PackageUsageError

    assert UsageError is PackageUsageError, "one UsageError for the package and its command line"
    args = _parser().parse_args(["link", *argv])
    with pytest.raises(UsageError) as caught:
        link_cli.run(args)
    message = str(caught.value)
    for word in words:
        assert word in message, (word, message)
    assert re.search(r"\b\w+=", message) is None, f"a keyword argument in a command-line error: {message}"
    assert registry.running() == []


def _first_line(proc: subprocess.Popen, timeout: float = 15.0) -> str:
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    if not ready:
        proc.kill()
        pytest.fail(f"The command printed nothing in {timeout} s; stderr: {proc.stderr.read()}", pytrace=False)
    return proc.stdout.readline().strip()


def _port_of(line: str) -> int:
    assert line.startswith("listening on 127.0.0.1:"), line
    return int(line.rsplit(":", 1)[1])


def _start(code_or_args: list[str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, *code_or_args], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _end(proc: subprocess.Popen, signum=signal.SIGINT) -> tuple[int, str]:
    proc.send_signal(signum)
    try:
        _, err = proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate(timeout=5)
        pytest.fail(f"The command did not stop within 10 s of {signal.Signals(signum).name}.", pytrace=False)
    return proc.returncode, err


def _talk_through(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=CLIENT_TIMEOUT) as client:
        client.sendall(b"through the link")
        client.shutdown(socket.SHUT_WR)
        answer = b""
        while part := client.recv(100):
            answer += part
    return answer


# `python -m sockcourse ARGS`, with SIGHUP at its default action as a shell starts a command
# (a test runner started with nohup would otherwise hand its children SIGHUP ignored).
_AS_FROM_A_SHELL = ("import runpy, signal; signal.signal(signal.SIGHUP, signal.SIG_DFL); "
                    "runpy.run_module('sockcourse', run_name='__main__', alter_sys=True)")


@pytest.mark.parametrize("signum", [signal.SIGINT, getattr(signal, "SIGHUP", signal.SIGTERM)],
                         ids=["Ctrl-C", "terminal closed"])
def test_cli_link_runs_until_a_stop_signal_in_front_of_a_server(signum):
    with serve(handlers.upper) as server:
        proc = _start(["-c", _AS_FROM_A_SHELL, "link", "--to", f"127.0.0.1:{server.port}", "--chunk", "5",
                       "--gap", "50", "--delay", "5"])
        try:
            port = _port_of(_first_line(proc))
            assert _talk_through(port) == b"THROUGH THE LINK"
        finally:
            code, err = _end(proc, signum)
        assert all(e.nbytes <= 5 for e in server.trace.of_kind("recv"))
    assert code == 0, err
    assert "Traceback" not in err, err
    assert "The link stopped" in err and "delayed" in err


def test_python_m_sockcourse_link_in_front_of_python_m_sockcourse_serve():
    server = _start(["-m", "sockcourse", "serve", "echo"])
    try:
        server_port = _port_of(_first_line(server))
        relay = _start(["-m", "sockcourse", "link", "--to", f"127.0.0.1:{server_port}", "--loss", "0.2",
                        "--rto", "20"])
        try:
            relay_port = _port_of(_first_line(relay))
            assert _talk_through(relay_port) == b"through the link"
        finally:
            relay_code, relay_err = _end(relay)
    finally:
        server_code, server_err = _end(server)
    assert relay_code == 0, relay_err
    assert server_code == 0, server_err


# -- the panel and the benchmark ------------------------------------------------------
def test_link_panel_sliders_set_the_link():
    widgets = pytest.importorskip("sockcourse.widgets")
    ipywidgets = pytest.importorskip("ipywidgets")
    with serve(handlers.echo, transport="udp") as server, \
            link(server.address, transport="udp") as relay:
        panel = widgets.link_panel(relay, refresh=0.05)
        assert set(panel.sliders) == {"delay", "jitter", "loss", "duplicate", "reorder"}
        panel.sliders["loss"].value = 0.25
        assert relay.settings["to_server"]["loss"] == relay.settings["to_client"]["loss"] == 0.25
        panel.direction.value = "to_client"
        panel.sliders["delay"].value = 40
        assert relay.settings["to_client"]["delay"] == pytest.approx(0.04)
        assert relay.settings["to_server"]["delay"] == 0.0
        panel.direction.value = "to_server"
        assert panel.sliders["delay"].value == 0 and panel.sliders["loss"].value == 0.25
        relay.set("both", loss=0)
        with udp_client() as client:
            client.sendto(b"ping", relay.address)
            assert client.recv(10) == b"ping"
        wait_for(lambda: "1 delivered" in panel.counts.value and "1 delayed" in panel.counts.value,
                 3.0, "the panel's counts to show the datagram")
        assert widgets.counts_text(relay) == link_module.summary(relay.counts())  # the one line, in one place
        # A plain VBox: chapter 02 stores its text stand-in, which names the class.
        assert type(panel) is ipywidgets.VBox and repr(panel).startswith("VBox(children=(ToggleButtons(")
        panel.close()
    tcp_panel_server = serve(handlers.echo)
    try:
        with link(tcp_panel_server.address) as relay:
            panel = widgets.link_panel(relay)
            assert set(panel.sliders) == {"delay", "jitter", "loss", "chunk"}
            panel.sliders["chunk"].value = 8
            assert relay.settings["to_server"]["chunk"] == 8
            panel.sliders["chunk"].value = 0
            assert relay.settings["to_server"]["chunk"] is None
        # Once the link stops, the panel says so and offers no sliders (chapter 02 after Run All).
        panel.sliders["delay"].value = 30
        assert "has stopped" in panel.problem.value and "run the cells that start the link" in panel.problem.value
        assert all(slider.disabled for slider in panel.sliders.values())
        panel.close()
    finally:
        tcp_panel_server.stop()
    with pytest.raises(TypeError, match="running link"):
        widgets.link_panel("not a link")


def test_bench_measures_both_paths():
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import bench_link
    finally:
        sys.path.remove(str(ROOT / "tools"))
    result = bench_link.measure(40)
    assert result["round_trips"] == 40
    assert 0 < result["direct_ms"] < 1000 and 0 < result["link_ms"] < 1000
    assert result["added_ms"] == pytest.approx(result["link_ms"] - result["direct_ms"])
