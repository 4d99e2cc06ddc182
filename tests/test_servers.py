"""Tests of serve() and Server on real loopback sockets: lifecycle, re-runs, errors, load, faults.

Every client socket here has a timeout and every wait a deadline, so a broken
server makes a test fail, never hang.
"""

from __future__ import annotations

import os
import socket
import struct
import sys
import threading
import time
from types import SimpleNamespace

import pytest

import sockcourse
from sockcourse import HandlerError, handlers, registry, serve
from conftest import ipv6_loopback_available, recv_exactly, server_threads, wait_for

pytestmark = pytest.mark.timeout(60)

CLIENT_TIMEOUT = 5.0


def connect(server, timeout: float = CLIENT_TIMEOUT) -> socket.socket:
    if server.transport == "unix":
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(server.path)
        except BaseException:
            sock.close()
            raise
        return sock
    return socket.create_connection(server.address, timeout=timeout)


def kinds(server, conn=None) -> list[str]:
    events = server.trace.events if conn is None else server.trace.connection(conn)
    return [e.kind for e in events]


def wait_for_kind(server, kind: str, conn=None, timeout: float = 2.0) -> None:
    wait_for(lambda: kind in kinds(server, conn), timeout, f"a {kind!r} event in the trace")


# -- lifecycle ----------------------------------------------------------------

def test_serve_returns_listening_and_stop_frees_the_port():
    server = serve(handlers.echo)
    try:
        assert server.running and server.host == "127.0.0.1" and server.port > 0
        # No sleep: serve() promises the socket is already listening.
        with connect(server) as client:
            client.sendall(b"ping")
            assert recv_exactly(client, 4) == b"ping"
    finally:
        server.stop()
    server.stop()  # a second stop is a no-op, not an error
    assert not server.running
    assert not server._loop_thread.is_alive()
    wait_for(lambda: not server_threads(server), 1.0, "the server's threads to end")
    assert server not in registry.running()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(server.address, timeout=2).close()


def test_context_manager_stops_on_exit():
    with serve(handlers.upper) as server:
        with connect(server) as client:
            client.sendall(b"shout")
            assert recv_exactly(client, 5) == b"SHOUT"
    assert not server.running
    wait_for(lambda: not server_threads(server), 1.0, "the server's threads to end")
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(server.address, timeout=2).close()


def test_trace_records_a_whole_conversation_with_byte_counts():
    with serve(handlers.echo) as server:
        with connect(server) as client:
            client_name = "%s:%d" % client.getsockname()[:2]
            for message in (b"hello", b"world!"):
                client.sendall(message)
                assert recv_exactly(client, len(message)) == message
        # The handler closes after it sees our FIN; stop only then, so the trace is complete.
        wait_for_kind(server, "close", conn=1)
    events = server.trace.events
    assert [e.kind for e in events] == [
        "listen", "accept", "recv", "send", "recv", "send", "eof", "close", "stop"]
    assert events[0].peer == f"127.0.0.1:{server.port}"
    assert all(e.conn == 1 and e.peer == client_name for e in events[1:-1])
    assert [(e.kind, e.nbytes, e.data) for e in events if e.kind in ("recv", "send")] == [
        ("recv", 5, b"hello"), ("send", 5, b"hello"), ("recv", 6, b"world!"), ("send", 6, b"world!")]
    assert server.trace.bytes_in() == server.trace.bytes_out() == 11
    assert [e.nbytes for e in events if e.kind == "eof"] == [0]
    times = [e.t for e in events]
    assert times == sorted(times)
    assert server.connections == 1


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
def test_tcp_echo_over_ipv4_and_ipv6_loopback(host):
    if host == "::1" and not ipv6_loopback_available():
        pytest.skip("IPv6 loopback (::1) cannot be bound on this machine")
    with serve(handlers.echo, host=host) as server:
        assert server.host == host
        with socket.create_connection((host, server.port), timeout=CLIENT_TIMEOUT) as client:
            assert client.family == (socket.AF_INET6 if ":" in host else socket.AF_INET)
            client.sendall(b"over " + host.encode())
            assert recv_exactly(client, 5 + len(host)) == b"over " + host.encode()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((host, server.port), timeout=2).close()


def test_udp_echo_and_the_port_refuses_after_stop():
    with serve(handlers.echo, transport="udp") as server:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
            client.settimeout(CLIENT_TIMEOUT)
            client.sendto(b"datagram", server.address)
            data, source = client.recvfrom(1024)
            assert data == b"datagram" and source == tuple(server.address)
        wait_for_kind(server, "sendto")  # recorded just after the datagram left
        assert kinds(server) == ["listen", "recvfrom", "sendto"]
        assert [e.nbytes for e in server.trace.of_kind("recvfrom", "sendto")] == [8, 8]
    assert kinds(server)[-1] == "stop"
    # A connected UDP socket hears the ICMP "port unreachable" as a refused connection.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.settimeout(2)
        probe.connect(server.address)
        probe.send(b"anyone?")
        with pytest.raises(ConnectionRefusedError):
            probe.recv(1024)


def test_unix_stream_removes_its_socket_file_and_private_directory():
    with serve(handlers.echo, transport="unix") as server:
        path = server.path
        assert server.port is None and server.host is None
        assert os.path.exists(path) and len(os.fsencode(path)) <= 107
        assert oct(os.stat(os.path.dirname(path)).st_mode & 0o777) == oct(0o700)
        with connect(server) as client:
            client.sendall(b"local")
            assert recv_exactly(client, 5) == b"local"
        wait_for_kind(server, "close", conn=1)
        assert server.trace.connection(1)[0].peer == "client #1"
    assert not os.path.exists(path)
    assert not os.path.exists(os.path.dirname(path))
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as late:
        late.settimeout(2)
        with pytest.raises(FileNotFoundError):
            late.connect(path)


def test_unix_stream_on_a_given_path_removes_only_the_socket_file(short_tmp):
    path = os.path.join(short_tmp, "given.sock")
    with serve(handlers.echo, transport="unix", path=path) as server:
        assert server.path == path
        with connect(server) as client:
            client.sendall(b"x")
            assert recv_exactly(client, 1) == b"x"
    assert not os.path.exists(path)
    assert os.path.isdir(short_tmp)  # the caller's directory is the caller's


def test_unix_datagram_replies_to_a_client_that_bound_its_own_path(short_tmp):
    client_path = os.path.join(short_tmp, "client.sock")
    with serve(handlers.upper, transport="unix_dgram") as server:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as client:
            client.settimeout(CLIENT_TIMEOUT)
            client.bind(client_path)  # without a name of its own it could not be answered
            client.sendto(b"quiet", server.path)
            data, source = client.recvfrom(1024)
            assert data == b"QUIET" and source == server.path
        (event,) = server.trace.of_kind("recvfrom")
        assert event.peer == client_path and event.nbytes == 5
    assert not os.path.exists(server.path)


def test_unix_datagram_client_that_cannot_take_the_reply_is_not_a_handler_error(short_tmp):
    gone, refusing = os.path.join(short_tmp, "gone.sock"), os.path.join(short_tmp, "refusing.sock")
    with serve(handlers.echo, transport="unix_dgram") as server:
        for path, make_unreachable in [
                (gone, lambda: os.unlink(gone)),  # its socket file was removed: ENOENT
                # a socket file with no socket bound behind it any more: ECONNREFUSED
                (refusing, lambda: (os.unlink(refusing), _bind_and_close(refusing)))]:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as client:
                client.bind(path)
                make_unreachable()
                client.sendto(b"reply to nowhere", server.path)
        wait_for(lambda: len(server.trace.of_kind("error")) == 2, 2.0, "both replies to fail")
        details = [e.detail for e in server.trace.of_kind("error")]
        assert details[0].startswith("reply dropped: FileNotFoundError")
        assert details[1].startswith("reply dropped: ConnectionRefusedError")
        assert server.errors == []
    # and leaving the with block did not raise HandlerError


def _bind_and_close(path):
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as placeholder:
        placeholder.bind(path)


def test_unix_datagram_client_that_reads_late_loses_replies_but_no_error_is_raised(short_tmp):
    sent = 30  # more than Linux queues for one UNIX datagram socket (net.unix.max_dgram_qlen, 10)
    with serve(handlers.echo, transport="unix_dgram") as server:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as client:
            client.bind(os.path.join(short_tmp, "late.sock"))
            client.settimeout(CLIENT_TIMEOUT)
            for number in range(sent):
                client.sendto(b"%02d" % number, server.path)
            wait_for(lambda: len(server.trace.of_kind("recvfrom")) == sent, 2.0, "every datagram")
            wait_for(lambda: len(server.trace.of_kind("sendto", "error")) == sent, 2.0, "every reply")
            replies = []
            client.setblocking(False)
            for _ in range(sent):
                try:
                    replies.append(client.recv(16))
                except BlockingIOError:
                    break
        dropped = server.trace.of_kind("error")
        assert replies and len(replies) + len(dropped) == sent
        assert replies == sorted(replies)  # the ones that arrived kept their order
        assert all(e.detail.startswith("reply dropped: BlockingIOError") for e in dropped)
        assert server.errors == []


# -- re-running ---------------------------------------------------------------

def test_same_name_replaces_the_running_server():
    first = serve(handlers.echo, name="lesson-server")
    try:
        second = serve(handlers.upper, name="lesson-server")
    except BaseException:
        first.stop()
        raise
    with second:
        assert not first.running
        assert registry.running() == [second]
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(first.address, timeout=2).close()
        with connect(second) as client:
            client.sendall(b"new")
            assert recv_exactly(client, 3) == b"NEW"


@pytest.fixture
def cell_runs():
    """Run "cells" through the hook IPython calls before each cell, then forget them.

    In a notebook, registry registers `_before_cell` as IPython's
    `pre_run_cell` event callback; IPython passes it an ExecutionInfo whose
    `raw_cell` is the cell's source. An object with that one attribute is all
    the hook reads.
    """
    def run_cell(source):
        registry._before_cell(SimpleNamespace(raw_cell=source))
    yield run_cell
    run_cell(None)  # no cell is current any more, so later servers belong to none


def test_rerunning_a_cell_stops_its_old_server_and_frees_its_port(cell_runs):
    cell = "server = sockcourse.serve(sockcourse.handlers.echo)\n"
    cell_runs(cell)
    first = serve(handlers.echo)
    port = first.port
    # A learner's client still connected to the old server must not keep the port busy.
    with connect(first) as client:
        client.sendall(b"a")
        assert recv_exactly(client, 1) == b"a"
        cell_runs("print('another cell')")
        assert first.running  # running some other cell leaves it alone
        cell_runs(cell)
        assert not first.running
        assert client.recv(1) == b""  # the old server said goodbye
        with serve(handlers.echo, port=port) as second:
            assert second.port == port
            with connect(second) as again:
                again.sendall(b"b")
                assert recv_exactly(again, 1) == b"b"


def test_stop_all_stops_everything_and_counts(short_tmp):
    servers = [serve(handlers.echo), serve(handlers.echo, transport="udp"),
               serve(handlers.echo, transport="unix"),
               serve(handlers.echo, transport="unix", path=os.path.join(short_tmp, "s"))]
    assert sockcourse.stop_all() == 4
    assert not any(s.running for s in servers)
    assert registry.running() == []
    assert sockcourse.stop_all() == 0
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(servers[0].address, timeout=2).close()


# -- a handler's exception ------------------------------------------------------

def fussy(conn):
    """Echoes, but chokes on the word b'bad', like a handler with a bug."""
    while data := conn.recv(1024):
        if data == b"bad":
            raise ValueError("cannot parse b'bad'")
        conn.sendall(data)


def test_handler_error_is_reraised_at_stop_and_serving_goes_on():
    server = serve(fussy)
    try:
        with connect(server) as broken:
            broken_name = "%s:%d" % broken.getsockname()[:2]
            broken.sendall(b"bad")
            assert broken.recv(10) == b""  # the server closed this one connection
        wait_for(lambda: server.errors, 2.0, "the handler's error to be kept")
        with connect(server) as fine:  # the server is still serving others
            fine.sendall(b"good")
            assert recv_exactly(fine, 4) == b"good"
    finally:
        with pytest.raises(HandlerError) as info:
            server.stop()
    error = info.value
    assert isinstance(error.__cause__, ValueError)
    assert str(error.__cause__) == "cannot parse b'bad'"
    message = str(error)
    assert "'fussy'" in message and "connection #1" in message and broken_name in message
    assert "ValueError" in message and message.endswith(".")
    server.stop()  # raised once; the second stop is quiet
    assert [e.conn for e in server.trace.of_kind("error")] == [1]


def test_handler_error_is_reraised_at_with_exit():
    with pytest.raises(HandlerError) as info:
        with serve(fussy) as server:
            with connect(server) as client:
                client.sendall(b"bad")
                assert client.recv(10) == b""
    assert isinstance(info.value.__cause__, ValueError)
    assert not server.running


@pytest.mark.skipif(sys.version_info < (3, 11), reason="exception notes arrived in Python 3.11")
def test_the_with_body_error_wins_and_carries_the_handler_error_as_a_note():
    with pytest.raises(KeyError) as info:
        with serve(fussy) as server:
            with connect(server) as client:
                client.sendall(b"bad")
                assert client.recv(10) == b""
            wait_for(lambda: server.errors, 2.0, "the handler's error to be kept")
            raise KeyError("the learner's own mistake")
    notes = getattr(info.value, "__notes__", [])
    assert len(notes) == 1 and "'fussy'" in notes[0] and "ValueError" in notes[0]
    assert not server.running


# -- many clients -----------------------------------------------------------------

def test_200_concurrent_clients_1000_messages_each_nothing_lost_or_reordered():
    # Up to 50 messages in flight per client, sent 10 to a segment: 20,000 sends in
    # all keeps the test at a couple of seconds on 2 cores (one send per message
    # took ~14 s), while replies still arrive cut wherever the kernel likes.
    clients, messages, window = 200, 1000, 50
    failures: list[str] = []
    ready = threading.Barrier(clients, timeout=20)

    def message(index: int, number: int) -> bytes:
        return b"client %03d message %04d .........\n" % (index, number)

    def run_client(index: int) -> None:
        try:
            with connect(server, timeout=10) as sock:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                ready.wait()  # all 200 are connected before anyone talks
                for start in range(0, messages, window):
                    batch = [message(index, n) for n in range(start, start + window)]
                    expected = b"".join(batch)
                    for i in range(0, window, 10):
                        sock.sendall(b"".join(batch[i:i + 10]))
                    got = recv_exactly(sock, len(expected))
                    if got != expected:
                        at = next((i for i, (a, b) in enumerate(zip(got, expected)) if a != b),
                                  min(len(got), len(expected)))
                        failures.append(f"client {index}: reply differs at byte {at} of batch {start}")
                        return
                sock.shutdown(socket.SHUT_WR)
                if sock.recv(1) != b"":
                    failures.append(f"client {index}: bytes after the last reply")
        except Exception as exc:  # reported below, with the client's number
            failures.append(f"client {index}: {type(exc).__name__}: {exc}")

    with serve(handlers.echo) as server:
        threads = [threading.Thread(target=run_client, args=(i,), name=f"test-client-{i}")
                   for i in range(clients)]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(max(0.1, 40 - (time.monotonic() - started)))
        stuck = [t.name for t in threads if t.is_alive()]
        assert not stuck, f"{len(stuck)} clients did not finish in time"
        assert failures == [], failures[:5]
        assert server.connections == clients
        assert server.errors == []


# -- faults ---------------------------------------------------------------------------

def test_a_client_reset_is_recorded_and_is_not_a_handler_error():
    with serve(handlers.echo) as server:
        client = connect(server)
        client.sendall(b"hi")
        assert recv_exactly(client, 2) == b"hi"
        # SO_LINGER on with 0 s: close() sends RST instead of FIN.
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        client.close()
        wait_for_kind(server, "close", conn=1)
        first = kinds(server, conn=1)
        # The handler was blocked in recv() when the RST came: Linux says ECONNRESET.
        # A kernel that reports the abort as end-of-file instead is also honest.
        assert first[-2] in ("reset", "eof") and first[-1] == "close"
        if sys.platform.startswith("linux"):
            assert first[-2] == "reset"
        with connect(server) as after:
            after.sendall(b"still here")
            assert recv_exactly(after, 10) == b"still here"
    assert server.errors == []  # and leaving the with block above did not raise


def test_half_close_still_gets_the_whole_echo():
    payload = bytes(range(256)) * 200  # more than one recv() worth
    with serve(handlers.echo) as server:
        with connect(server) as client:
            client.sendall(payload)
            client.shutdown(socket.SHUT_WR)  # "I am done sending", but still listening
            received = b""
            for _ in range(10_000):
                part = client.recv(65536)
                if not part:
                    break
                received += part
            assert received == payload
            assert client.recv(10) == b""
        wait_for_kind(server, "close", conn=1)
        assert kinds(server, conn=1)[-2:] == ["eof", "close"]
        assert server.trace.bytes_in(1) == server.trace.bytes_out(1) == len(payload)


def test_one_byte_writes_arrive_whole():
    message = b"one byte at a time, no Nagle to glue them"
    with serve(handlers.echo) as server:
        with connect(server) as client:
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for i in range(len(message)):
                assert client.send(message[i:i + 1]) == 1
            assert recv_exactly(client, len(message)) == message
            client.shutdown(socket.SHUT_WR)
            assert client.recv(10) == b""
        wait_for_kind(server, "close", conn=1)
    assert server.trace.bytes_in(1) == len(message)


def test_a_silent_client_does_not_delay_stop():
    server = serve(handlers.echo)  # idle_timeout is 300 s: only stop() can end this one
    try:
        client = connect(server)
        wait_for_kind(server, "accept")
        wait_for(lambda: len(server_threads(server)) == 2, 2.0, "the connection's thread to start")
    except BaseException:
        server.stop()
        raise
    with client:
        started = time.monotonic()
        server.stop()
        elapsed = time.monotonic() - started
        assert elapsed < 1.0, f"stop() took {elapsed:.3f} s"
        assert server_threads(server) == []
        assert client.recv(10) == b""  # stop() ended the connection with a FIN


def test_idle_timeout_ends_a_silent_connection():
    with serve(handlers.echo, idle_timeout=0.2) as server:
        with connect(server) as client:
            assert client.recv(10) == b""  # closed by the server, well before our own 5 s
        wait_for_kind(server, "close", conn=1)
        assert kinds(server, conn=1) == ["accept", "timeout", "close"]
    assert server.errors == []


def test_reset_handler_makes_the_client_recv_raise():
    with serve(handlers.reset) as server:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as client:
            # A blocking connect() returns as soon as the SYN-ACK arrives, before the
            # server has even accepted. With a timeout, Python waits with poll() and
            # then reads SO_ERROR, and an RST that won the race is reported by
            # connect() itself (seen here 3 times in 15 runs).
            client.connect(server.address)
            client.settimeout(CLIENT_TIMEOUT)
            with pytest.raises(ConnectionResetError):
                client.recv(10)
        wait_for_kind(server, "close", conn=1)
    assert server.errors == []


def test_hangup_handler_makes_the_client_recv_return_empty():
    with serve(handlers.hangup) as server:
        with connect(server) as client:
            assert client.recv(10) == b""
    assert server.errors == []
