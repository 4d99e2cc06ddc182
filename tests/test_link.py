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


def test_stop_does_not_wait_for_data_held_back():
    with serve(handlers.echo) as server:
        relay = link(server.address, delay=5.0)
        with socket.create_connection(relay.address, timeout=CLIENT_TIMEOUT) as client:
            client.sendall(b"late")
            wait_for(lambda: relay._connections, 2.0, "the link to take the connection")
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
    (("127.0.0.1", 0), ["port 0"]),
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
    (["--to", "5000", "--loss", "lots"], ["--loss", "'lots'"]),
    (["--to", "5000", "--delay", "-5"], ["--delay", "'-5'", "milliseconds"]),
    (["--to", "5000", "--loss", "1.5"], ["1.5", "--loss 0.2"]),
    (["--to", "5000", "--duplicate", "0.1"], ["--duplicate 0.1", "add --udp"]),
])
def test_cli_refuses_bad_input_with_a_sentence(argv, words):
    from sockcourse.cli import UsageError

    args = _parser().parse_args(["link", *argv])
    with pytest.raises(UsageError) as caught:
        link_cli.run(args)
    for word in words:
        assert word in str(caught.value), (word, str(caught.value))
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


def _end(proc: subprocess.Popen) -> tuple[int, str]:
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate(timeout=5)
        pytest.fail("The command did not stop within 10 s of SIGINT.", pytrace=False)
    return proc.returncode, err


def _talk_through(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=CLIENT_TIMEOUT) as client:
        client.sendall(b"through the link")
        client.shutdown(socket.SHUT_WR)
        answer = b""
        while part := client.recv(100):
            answer += part
    return answer


# Registers the subcommand in this process's copy of cli.py only, as the lead will in the file.
_PRIVATE_CLI = ("import sys; from sockcourse import cli; from sockcourse.cli import link as link_cli; "
                "cli.SUBCOMMANDS.append(link_cli.add_parser) if link_cli.add_parser not in cli.SUBCOMMANDS "
                "else None; sys.exit(cli.main(sys.argv[1:], prog='python -m sockcourse'))")


def test_cli_link_runs_until_sigint_in_front_of_a_server():
    with serve(handlers.upper) as server:
        proc = _start(["-c", _PRIVATE_CLI, "link", "--to", f"127.0.0.1:{server.port}", "--chunk", "5",
                       "--gap", "50", "--delay", "5"])
        try:
            port = _port_of(_first_line(proc))
            assert _talk_through(port) == b"THROUGH THE LINK"
        finally:
            code, err = _end(proc)
        assert all(e.nbytes <= 5 for e in server.trace.of_kind("recv"))
    assert code == 0, err
    assert "The link stopped" in err and "delayed" in err


def _link_is_wired() -> bool:
    result = subprocess.run([sys.executable, "-m", "sockcourse", "--help"], cwd=ROOT,
                            capture_output=True, text=True, timeout=30)
    return re.search(r"^\s+link\s", result.stdout, re.MULTILINE) is not None


def test_python_m_sockcourse_link_in_front_of_python_m_sockcourse_serve():
    if not _link_is_wired():
        pytest.skip("'link' is not yet in python -m sockcourse --help (cli.SUBCOMMANDS)")
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
