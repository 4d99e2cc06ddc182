"""The one lifecycle, tried on real servers: no stop() ever leaves a server half-stopped.

"Stopped" is checked the hard way each time: nothing accepts on the port any
more, the registry has forgotten the server, its threads are gone, and a UNIX
server's socket file and private folder are removed. The ways in are the ones
that broke before the lifecycle was written once: a handler that stops its own
server, a bad timeout, two threads stopping at once, a failure halfway through
start-up, and namesakes started together.
"""

from __future__ import annotations

import os
import socket
import threading
import time

import pytest

import sockcourse
from sockcourse import HandlerError, handlers, registry, serve
from sockcourse.core.errors import ArgumentError, SockcourseError
from sockcourse.core.lifecycle import Stoppable
from conftest import server_threads, wait_for

pytestmark = pytest.mark.timeout(60)


def assert_fully_stopped(server, path_dir=None) -> None:
    assert not server.running and server.stopped
    assert server not in registry.running()
    wait_for(lambda: not server_threads(server), 2.0, "the server's threads to end")
    if server.path is not None:
        assert not os.path.exists(server.path), "the UNIX socket file is left behind"
        assert not os.path.exists(path_dir), "the private folder is left behind"
    else:
        family = socket.AF_INET6 if ":" in server.host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.settimeout(2)
            with pytest.raises(ConnectionRefusedError):
                probe.connect(server.address)


def connect(server) -> socket.socket:
    if server.path is not None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(5)
        sock.connect(server.path)
        return sock
    return socket.create_connection(server.address, timeout=5)


@pytest.mark.parametrize("transport", ["tcp", "unix"])
def test_a_handler_that_stops_its_own_server_leaves_nothing(transport):
    said = []

    def quit_on_request(conn):
        if conn.recv(100) == b"quit":
            conn.sendall(b"bye")
            server.stop()          # from the connection's own thread
            said.append("stopped")

    server = serve(quit_on_request, transport=transport)
    folder = os.path.dirname(server.path) if server.path else None
    with connect(server) as client:
        client.sendall(b"quit")
        assert client.recv(100) == b"bye"
    wait_for(lambda: said, 3.0, "the handler's stop() to return")
    assert_fully_stopped(server, folder)
    server.stop()  # safe again, from the cell


@pytest.mark.parametrize("timeout", ["5", float("nan"), float("inf"), -1, 0, None, True])
def test_a_bad_timeout_is_refused_before_anything_stops(timeout):
    server = serve(handlers.echo)
    try:
        with pytest.raises(ArgumentError) as info:
            server.stop(timeout=timeout)
        assert repr(timeout) in str(info.value) and "timeout" in str(info.value)
        assert server.running and server in registry.running()
        with connect(server) as client:  # still serving: nothing was half-done
            client.sendall(b"x")
            assert client.recv(10) == b"x"
    finally:
        server.stop()
    assert_fully_stopped(server)


def test_two_threads_stopping_at_once_both_wait_and_both_report_the_handlers_error():
    started = threading.Event()

    def broken(conn):
        conn.recv(10)
        started.set()
        time.sleep(0.3)  # still busy when the stops begin, so the second one must wait
        raise KeyError("boom")

    server = serve(broken)
    client = connect(server)
    client.sendall(b"x")
    assert started.wait(5)
    results, finished = {}, {}

    def stopper(name):
        try:
            server.stop()
            results[name] = None
        except Exception as exc:  # noqa: BLE001 - the test looks at what each got
            results[name] = exc
        finished[name] = time.monotonic()

    threads = [threading.Thread(target=stopper, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    client.close()
    assert set(results) == {"a", "b"}
    assert all(isinstance(e, HandlerError) and "KeyError" in str(e) for e in results.values()), results
    assert results["a"] is results["b"], "both stops report the same error"
    assert_fully_stopped(server)
    server.stop()  # a later stop, after both: returns quietly


def test_a_failure_halfway_through_start_up_closes_what_was_opened(short_tmp, monkeypatch):
    from sockcourse.servers import threaded

    def refuse(*args, **kwargs):
        raise OSError(24, "Too many open files")  # the second resource of start-up fails

    monkeypatch.setattr(threaded.socket, "socketpair", refuse)
    path = os.path.join(short_tmp, "s.sock")
    before = set(os.listdir("/proc/self/fd"))
    with pytest.raises(OSError, match="Too many open files"):
        serve(handlers.echo, transport="unix", path=path)
    assert not os.path.exists(path), "the socket file of the failed start is left behind"
    assert registry.running() == []
    assert set(os.listdir("/proc/self/fd")) <= before | {str(n) for n in range(3)}


def test_namesakes_started_together_leave_exactly_one_running():
    barrier = threading.Barrier(8)
    errors = []

    def start():
        try:
            barrier.wait(5)
            serve(handlers.echo, name="shared")
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    try:
        assert not errors
        named = [s for s in registry.running() if getattr(s, "explicit_name", None) == "shared"]
        assert len(named) == 1, named
    finally:
        sockcourse.stop_all()


def test_the_base_runs_close_even_when_stop_raises_and_a_concurrent_stop_sees_it():
    closed = []

    class Flaky(Stoppable):
        what = "flaky thing"

        def _stop(self, timeout):
            time.sleep(0.2)
            raise SockcourseError("It could not stop cleanly; see its record.")

        def _close(self):
            closed.append(True)

    thing = Flaky("flaky")._launch()
    assert thing in registry.running()
    errors = []

    def second():
        try:
            thing.stop()
        except SockcourseError as exc:
            errors.append(exc)

    other = threading.Thread(target=second)
    with pytest.raises(SockcourseError, match="could not stop cleanly"):
        other.start()
        time.sleep(0.05)
        thing.stop()
    other.join(5)
    assert closed == [True] and thing not in registry.running()
    assert len(errors) == 1 and "could not stop cleanly" in str(errors[0])
    thing.stop()  # after it has finished: quiet


def test_a_start_that_fails_registers_nothing_and_closes_once():
    closed = []

    class Broken(Stoppable):
        def _start(self):
            raise OSError("no room")

        def _close(self):
            closed.append(True)

    with pytest.raises(OSError, match="no room"):
        Broken("broken")._launch()
    assert closed == [True] and registry.running() == []


def test_an_error_raised_by_stop_rides_on_the_blocks_own_error():
    def broken(conn):
        conn.recv(10)
        raise KeyError("from the handler")

    with pytest.raises(ZeroDivisionError) as info:
        with serve(broken) as server:
            with connect(server) as client:
                client.sendall(b"x")
                wait_for(lambda: server.errors, 2.0, "the handler's error")
            1 / 0
    notes = getattr(info.value, "__notes__", [])
    assert any("KeyError" in note and "'broken'" in note for note in notes), notes
    assert_fully_stopped(server)


def test_the_suites_guard_stops_traffic_to_another_machine_before_it_leaves(monkeypatch):
    import conftest

    # Seen at work on a loopback address this test forbids, so a broken guard sends nothing away.
    monkeypatch.setattr(conftest, "FORBIDDEN_FOR_TEST", {"127.0.0.2"})
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        with pytest.raises(RuntimeError, match="blocked socket.sendto"):
            sock.sendto(b"x", ("127.0.0.2", 9))
        with pytest.raises(RuntimeError, match="blocked socket.connect"):
            sock.connect(("127.0.0.2", 9))
    with pytest.raises(RuntimeError, match="blocked socket.getaddrinfo"):
        socket.getaddrinfo("127.0.0.2", 80)
    # Its judgement of other hosts, as a pure function: no socket at all.
    for host in ("192.0.2.1", "8.8.8.8", "example.com", "::ffff:10.0.0.1"):
        with pytest.raises(RuntimeError, match="loopback only"):
            conftest._refuse_unless_loopback(host, "socket.connect")
    for host in ("127.0.0.1", "::1", "localhost", None, ""):
        conftest._refuse_unless_loopback(host, "socket.connect")
