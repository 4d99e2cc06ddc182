"""Tests of sockcourse.aio: the asyncio loop on its own thread, and serve_async() on it.

Real sockets and a real event loop throughout: the loop must start, serve,
and stop with nothing left pending (every task finished, the loop closed,
its thread gone), and do so again. stop() must be quick and quiet while
clients are busy, blame the peer or the handler as each deserves, and work
from inside a handler too.
"""

from __future__ import annotations

import asyncio
import gc
import math
import os
import socket
import statistics
import sys
import threading
import time
import types
import warnings

import pytest

from sockcourse import aio, models, registry
from sockcourse.core import lifecycle, loopthread, sockets
from sockcourse.core.errors import (ArgumentError, ArgumentTypeError, HandlerError, IncompleteMessage,
                                    NotRunningError, SockcourseError, UsageError)
from conftest import recv_exactly, wait_for

pytestmark = pytest.mark.timeout(120)


def loop_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("sockcourse-asyncio")]


@pytest.fixture(autouse=True)
def no_loop_left():
    yield
    shared = loopthread._shared
    if shared is not None and shared.running:
        shared.stop()
        pytest.fail("The test left the shared asyncio loop thread running; stop it in the test.", pytrace=False)


async def echo(reader, writer):
    while data := await reader.read(65536):
        writer.write(data)
        await writer.drain()


async def echo_with_its_own_wait_for(reader, writer):
    # A learner's habit: a time limit of its own with asyncio.wait_for, which on
    # Python 3.11 can drop the cancellation stop() sends.
    while data := await asyncio.wait_for(reader.read(65536), 300):
        writer.write(data)
        await writer.drain()


# -- the loop thread -------------------------------------------------------------------
def test_loop_thread_starts_runs_and_stops_with_nothing_pending_twice():
    for round_number in range(2):
        loop_thread = aio.loop_thread()
        assert loop_thread.running and loop_threads(), f"round {round_number}: the loop thread did not start"
        assert loop_thread in registry.running()

        async def answer():
            await asyncio.sleep(0.01)
            return threading.current_thread().name

        assert loop_thread.run(answer(), timeout=5) == "sockcourse-asyncio"
        # A task that would sleep for a minute must be cancelled and awaited by stop().
        sleeper = loop_thread.submit(asyncio.sleep(60))
        loop = loop_thread.loop
        started = time.monotonic()
        loop_thread.stop()
        assert time.monotonic() - started < 3, "stop() waited for the sleeping task instead of cancelling it"
        assert sleeper.cancelled()
        assert loop_thread.leftover_tasks == 0
        assert loop.is_closed()
        assert not loop_thread.running and loop_thread.stopped
        wait_for(lambda: not loop_threads(), what="the loop thread to end")
        assert loop_thread not in registry.running()
        loop_thread.stop()  # safe twice


def test_a_stopped_loop_refuses_work_with_a_sentence():
    loop_thread = aio.LoopThread(name="sockcourse-asyncio-test").start()
    loop_thread.stop()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(NotRunningError, match="has stopped; start a new one") as refused:
            loop_thread.run(asyncio.sleep(0))
        gc.collect()
    assert isinstance(refused.value, RuntimeError), "an older `except RuntimeError` must still catch it"
    assert not [w for w in caught if "never awaited" in str(w.message)], "the refused coroutine was not closed"
    with pytest.raises(ArgumentTypeError, match="Expected a coroutine"):
        aio.loop_thread().submit(asyncio.sleep)  # the function, not a coroutine
    with pytest.raises(ArgumentError, match="finite number of seconds"):
        aio.loop_thread().run(asyncio.sleep(0), timeout=math.inf)
    aio.loop_thread().stop()


def test_run_gives_up_and_cancels_after_its_timeout():
    loop_thread = aio.loop_thread()
    try:
        with pytest.raises(TimeoutError, match="did not finish within 0.2 s") as caught:
            loop_thread.run(asyncio.sleep(30), timeout=0.2)
        assert isinstance(caught.value, SockcourseError), "a course error, which `except TimeoutError` catches"
        # The cancelled coroutine left nothing behind on the loop.
        assert loop_thread.run(_other_tasks(), timeout=5) == 0
    finally:
        loop_thread.stop()


async def _other_tasks() -> int:
    await asyncio.sleep(0.05)  # the cancellation lands
    return len([t for t in asyncio.all_tasks() if t is not asyncio.current_task()])


def test_loop_errors_are_kept_not_printed(capfd):
    loop_thread = aio.loop_thread()
    try:
        async def complain():
            asyncio.get_running_loop().call_exception_handler(
                {"message": "something went wrong", "exception": ValueError("kept")})

        loop_thread.run(complain(), timeout=5)
        assert [str(e) for e in loop_thread.errors] == ["kept"]
    finally:
        loop_thread.stop()
    assert "something went wrong" not in capfd.readouterr().err


def test_run_from_a_coroutine_on_the_loop_is_refused_not_a_deadlock():
    loop_thread = aio.loop_thread()
    try:
        async def nested():
            try:
                loop_thread.run(asyncio.sleep(0), timeout=5)
            except UsageError as exc:
                return str(exc)

        started = time.monotonic()
        said = loop_thread.run(nested(), timeout=5)
        assert time.monotonic() - started < 1, "run() waited for itself"
        assert "cannot call it (it would wait for itself); `await` the coroutine instead" in said
    finally:
        loop_thread.stop()


def test_a_coroutine_on_the_loop_may_stop_it():
    loop_thread = aio.loop_thread()
    server = aio.serve_async(echo)

    async def stop_from_inside():
        loop_thread.stop()  # must neither deadlock nor raise
        return "asked"

    assert loop_thread.run(stop_from_inside(), timeout=5) == "asked"
    assert not loop_thread.running and loop_thread not in registry.running()
    assert not server.running and server not in registry.running()
    wait_for(lambda: loop_thread.finished, what="the loop thread to end")
    assert loop_thread.loop.is_closed() and loop_thread.leftover_tasks == 0
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(server.address, timeout=5).close()
    loop_thread.stop()  # safe again, from outside


def test_stopping_the_loop_stops_its_servers():
    server = aio.serve_async(echo)
    aio.loop_thread().stop()
    assert not server.running and server not in registry.running()


# -- time limits that keep cancellations -------------------------------------------------
async def _cancelled_as_it_completes(limit) -> str:
    """Await something under `limit`, and cancel the awaiting task in the very callback that completes it.

    That is the race Python 3.11's wait_for loses: the result arrives and
    the cancellation is dropped. 'kept' means the cancellation got through.
    """
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    waiter = asyncio.ensure_future(limit(done, 10))

    def complete_and_cancel():
        done.set_result(b"data")
        waiter.cancel()

    await asyncio.sleep(0.01)  # the waiter is waiting by now
    loop.call_soon(complete_and_cancel)
    await asyncio.wait({waiter}, timeout=5)
    return "kept" if waiter.cancelled() else "lost"


@pytest.mark.parametrize("limit", [
    loopthread.within,
    pytest.param(loopthread._within_by_wait, id="fallback-for-3.10"),
    pytest.param(getattr(loopthread, "_within_by_timeout", None), id="asyncio.timeout",
                 marks=pytest.mark.skipif(sys.version_info < (3, 11), reason="asyncio.timeout is new in 3.11")),
])
def test_a_time_limit_never_drops_a_cancellation_and_still_times_out(limit):
    loop_thread = aio.loop_thread()
    try:
        for _ in range(20):
            assert loop_thread.run(_cancelled_as_it_completes(limit), timeout=5) == "kept"

        async def silent():
            started = time.monotonic()
            with pytest.raises(TimeoutError):
                await limit(asyncio.sleep(10), 0.1)
            return time.monotonic() - started

        assert 0.09 <= loop_thread.run(silent(), timeout=5) < 1
        assert loop_thread.run(limit(asyncio.sleep(0.01, result="in time"), 5), timeout=5) == "in time"
        assert loop_thread.run(_other_tasks(), timeout=5) == 0, "the limit left a task behind"
    finally:
        loop_thread.stop()


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="Python 3.12's wait_for no longer drops the cancellation")
def test_the_race_probe_catches_the_wait_for_of_python_3_11():
    # The probe above must be able to fail: on 3.11 asyncio.wait_for loses this race.
    loop_thread = aio.loop_thread()
    try:
        outcomes = {loop_thread.run(_cancelled_as_it_completes(asyncio.wait_for), timeout=5) for _ in range(5)}
        assert outcomes == {"lost"}
    finally:
        loop_thread.stop()


# -- serving -------------------------------------------------------------------------
def test_serve_async_echoes_records_and_stops_cleanly():
    with aio.serve_async(echo) as server:
        assert server.host == "127.0.0.1" and server.port > 0 and server.path is None
        assert repr(server).startswith("<AsyncServer echo tcp 127.0.0.1:") and "running, 0 connections" in repr(server)
        with socket.create_connection(server.address, timeout=5) as client:
            client.sendall(b"hello, asyncio")
            assert recv_exactly(client, 14) == b"hello, asyncio"
            client.shutdown(socket.SHUT_WR)
            assert client.recv(10) == b""
    kinds = [e.kind for e in server.trace]
    assert kinds == ["listen", "accept", "recv", "send", "eof", "close", "stop"], kinds
    assert server.trace.bytes_in() == server.trace.bytes_out() == 14
    assert not server.running and server not in registry.running()
    assert "stopped, 1 connections" in repr(server)
    server.stop()  # safe twice
    aio.loop_thread().stop()


def test_serve_async_serves_many_clients_at_once_from_one_thread():
    with aio.serve_async(echo, trace=False) as server:
        clients = [socket.create_connection(server.address, timeout=5) for _ in range(50)]
        try:
            for number, client in enumerate(clients):
                client.sendall(f"client {number:02d}".encode())
            for number, client in enumerate(clients):
                assert recv_exactly(client, 9) == f"client {number:02d}".encode()
        finally:
            for client in clients:
                client.close()
        wait_for(lambda: len(server.trace.of_kind("close")) == 50, what="the server to see every client close")
    assert server.connections == server.accepted == 50
    assert {e.kind for e in server.trace} == {"listen", "accept", "eof", "close", "stop"}, "trace=False keeps reads out"
    aio.loop_thread().stop()


def test_stop_cancels_a_handler_that_waits_for_a_silent_client():
    with socket.socket() as client:
        server = aio.serve_async(echo)
        client.settimeout(5)
        client.connect(server.address)
        wait_for(lambda: server.connections == 1, what="the server to accept")
        started = time.monotonic()
        server.stop()
        assert time.monotonic() - started < 2
        assert client.recv(10) == b"", "the server should have closed the connection"
    loop_thread = aio.loop_thread()
    assert loop_thread.run(_other_tasks(), timeout=5) == 0, "the handler's task is still on the loop"
    loop_thread.stop()


def _busy_clients(address, count: int, running: threading.Event, talked: list) -> list[threading.Thread]:
    """Clients that send and read back without a pause until the server goes away (or 30 s pass)."""
    def client(number):
        try:
            with socket.create_connection(address, timeout=5) as sock:
                deadline = time.monotonic() + 30
                while running.is_set() and time.monotonic() < deadline:
                    sock.sendall(b"x" * 1000)
                    if not sock.recv(65536):
                        return
                    talked[number] += 1
        except OSError:
            pass  # reset or closed by the stopping server: the end we wait for

    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(count)]
    for thread in threads:
        thread.start()
    return threads


def _stop_under_load(handler, clients: int) -> float:
    """Seconds that stop() takes while `clients` clients keep sending (it must raise nothing)."""
    server = aio.serve_async(handler)  # the default idle_timeout=300: every read has a time limit
    running, talked = threading.Event(), [0] * clients
    running.set()
    threads = _busy_clients(server.address, clients, running, talked)
    try:
        wait_for(lambda: all(count >= 3 for count in talked), timeout=10, what="every client to be busy")
        started = time.monotonic()
        server.stop()
        return time.monotonic() - started
    finally:
        running.clear()
        server.stop()
        for thread in threads:
            thread.join(10)
        assert not any(thread.is_alive() for thread in threads)


@pytest.mark.parametrize("clients, limit", [(3, 0.2), (20, 0.5)])
def test_stop_with_busy_clients_is_quick_and_quiet_every_time(clients, limit):
    took = [_stop_under_load(echo, clients) for _ in range(20)]
    aio.loop_thread().stop()
    assert max(took) <= limit, (f"stop() with {clients} busy clients took up to {max(took):.3f} s "
                                f"(median {statistics.median(took):.3f} s)")


def test_stop_with_busy_clients_forgives_a_cancellation_that_wait_for_dropped():
    # The handler's own wait_for may drop stop()'s cancellations, again and again
    # under load; the closed connection (as serve() shuts a socket down) ends it.
    took = [_stop_under_load(echo_with_its_own_wait_for, 3) for _ in range(10)]
    aio.loop_thread().stop()
    assert max(took) < 0.5, took


def test_a_handler_that_really_swallows_cancellation_is_reported():
    release = threading.Event()

    async def stubborn(reader, writer):
        for _ in range(600):  # bounded: the test releases it (30 s at most)
            if release.is_set():
                return
            try:
                await asyncio.sleep(0.05)
            except asyncio.CancelledError:
                pass  # the bug under test

    server = aio.serve_async(stubborn)
    try:
        with socket.create_connection(server.address, timeout=5):
            wait_for(lambda: server.connections == 1, what="the server to accept")
            started = time.monotonic()
            with pytest.raises(HandlerError, match="1 of its connections were still busy 0.5 s .* must not swallow "
                                                   "asyncio.CancelledError"):
                server.stop(timeout=0.5)
            assert 0.5 <= time.monotonic() - started < 2.5
            assert server not in registry.running()
    finally:
        release.set()
        aio.loop_thread().stop()


def test_a_handler_error_is_raised_at_stop_once():
    async def broken(reader, writer):
        await reader.read(10)
        raise ZeroDivisionError("the handler's own bug")

    server = aio.serve_async(broken)
    with socket.create_connection(server.address, timeout=5) as client:
        client.sendall(b"x")
        assert client.recv(10) == b"", "the server closes the connection whose handler failed"
    with pytest.raises(HandlerError, match="raised ZeroDivisionError: the handler's own bug") as caught:
        server.stop()
    assert isinstance(caught.value.__cause__, ZeroDivisionError)
    error = server.trace.of_kind("error")[0]
    assert (error.error_type, error.fault) == ("ZeroDivisionError", "handler")
    server.stop()  # the error was raised once
    aio.loop_thread().stop()


# -- who is at fault -------------------------------------------------------------------
def _one_event(server, kind):
    wait_for(lambda: server.trace.of_kind(kind), timeout=5, what=f"a {kind!r} event")
    return server.trace.of_kind(kind)[0]


def test_a_client_silent_past_the_idle_limit_is_the_peers_doing():
    server = aio.serve_async(echo, idle_timeout=0.2)
    with socket.create_connection(server.address, timeout=5) as client:
        event = _one_event(server, "timeout")
        assert client.recv(10) == b"", "the idle connection should be closed"
    assert (event.detail, event.error_type, event.fault) == ("idle for 0.2 s", "TimeoutError", "peer")
    server.stop()  # raises nothing: it was not the handler's fault
    aio.loop_thread().stop()


def test_a_client_reset_is_the_peers_doing():
    server = aio.serve_async(echo)
    client = socket.create_connection(server.address, timeout=5)
    client.sendall(b"ping")
    assert recv_exactly(client, 4) == b"ping"
    sockets.abort(client)  # RST
    event = _one_event(server, "reset")
    assert (event.error_type, event.fault) == ("ConnectionResetError", "peer")
    server.stop()
    aio.loop_thread().stop()


def test_a_client_that_closes_in_the_middle_of_a_message_is_the_peers_doing():
    async def fixed_size(reader, writer):
        writer.write(await reader.readexactly(4))

    async def raises_peer_fault(reader, writer):
        raise IncompleteMessage(await reader.read(10), 4, "length prefix")

    for handler, detail in [(fixed_size, "the peer closed after 2 of 4 bytes"),
                            (raises_peer_fault, "IncompleteMessage: The peer closed its side after 2 of the 4")]:
        server = aio.serve_async(handler)
        with socket.create_connection(server.address, timeout=5) as client:
            client.sendall(b"ab")
            client.shutdown(socket.SHUT_WR)
            event = _one_event(server, "eof")
        assert event.detail.startswith(detail) and event.fault == "peer", event
        server.stop()  # not the handler's fault
    aio.loop_thread().stop()


def _proxy_to(upstream, wait):
    async def proxy(reader, writer):
        up_reader, up_writer = await asyncio.open_connection(*upstream.getsockname())
        try:
            return await wait(up_reader.read(10))
        finally:
            up_writer.close()
    return proxy


def test_a_timeout_or_reset_of_the_handlers_own_upstream_is_the_handlers_error():
    # The same errors as a client's silence or reset, but from a connection the
    # handler opened itself: the handler's to answer for, raised at stop().
    with socket.create_server(("127.0.0.1", 0)) as silent, socket.create_server(("127.0.0.1", 0)) as resetting:
        server = aio.serve_async(_proxy_to(silent, lambda read: asyncio.wait_for(read, 0.1)))
        with socket.create_connection(server.address, timeout=5) as client:
            _one_event(server, "error")
            assert client.recv(10) == b""
        with pytest.raises(HandlerError, match="raised TimeoutError"):
            server.stop()
        assert not server.trace.of_kind("timeout"), "the upstream's timeout is not the client's"

        server = aio.serve_async(_proxy_to(resetting, lambda read: read))
        with socket.create_connection(server.address, timeout=5):
            resetting.settimeout(5)
            conn, _ = resetting.accept()
            sockets.abort(conn)  # the upstream resets
            _one_event(server, "error")
        with pytest.raises(HandlerError, match="raised ConnectionResetError"):
            server.stop()
        assert not server.trace.of_kind("reset"), "the upstream's reset is not the client's"
        assert server.trace.of_kind("error")[0].fault == "handler"
    aio.loop_thread().stop()


def test_an_error_whose_message_cannot_be_shown_is_not_lost():
    class Odd(Exception):
        def __str__(self):
            raise RuntimeError("no words")

    async def odd(reader, writer):
        raise Odd()

    server = aio.serve_async(odd)
    with socket.create_connection(server.address, timeout=5) as client:
        assert client.recv(10) == b""
    with pytest.raises(HandlerError, match="raised .*Odd: \\(its message could not be shown") as caught:
        server.stop()
    assert isinstance(caught.value.__cause__, Odd)
    aio.loop_thread().stop()


# -- a handler that stops its own server -------------------------------------------------
@pytest.mark.parametrize("transport", ["tcp", "unix"])
def test_a_handler_may_stop_its_own_server_and_leaves_nothing_behind(transport):
    holder = {}

    async def quit_command(reader, writer):
        while line := await reader.readline():
            if line == b"quit\n":
                holder["server"].stop()  # from the loop thread itself: must not wait for itself
                writer.write(b"bye\n")
                await writer.drain()
                return
            writer.write(line)

    server = holder["server"] = aio.serve_async(quit_command, transport=transport)
    family = socket.AF_UNIX if transport == "unix" else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as client:
        client.settimeout(5)
        client.connect(server.address)
        client.sendall(b"hello\nquit\n")
        assert recv_exactly(client, 10) == b"hello\nbye\n"
        assert client.recv(10) == b""
    assert server.stopped and not server.running and server not in registry.running()
    assert server.trace.of_kind("stop") and not server.errors
    with socket.socket(family, socket.SOCK_STREAM) as late:
        late.settimeout(5)
        with pytest.raises((ConnectionRefusedError, FileNotFoundError)):
            late.connect(server.address)  # nothing listens there any more
    if transport == "unix":
        assert not os.path.exists(server.address)
        assert not os.path.exists(os.path.dirname(server.address)), "the private directory was left"
    server.stop()  # from outside now: returns at once
    with aio.serve_async(echo) as other:  # the loop serves on
        with socket.create_connection(other.address, timeout=5) as client:
            client.sendall(b"still here")
            assert recv_exactly(client, 10) == b"still here"
    aio.loop_thread().stop()


# -- notebook cells ------------------------------------------------------------------
def _in_cell(text):
    lifecycle._before_cell(types.SimpleNamespace(raw_cell=text))


def test_rerunning_the_cell_that_started_the_shared_loop_leaves_other_cells_servers_alone():
    try:
        _in_cell("first = aio.serve_async(echo); model = models.start('asyncio')")
        first = aio.serve_async(echo)
        model = models.start("asyncio")
        shared = aio.loop_thread()
        _in_cell("second = aio.serve_async(echo)")
        second = aio.serve_async(echo)
        assert shared is aio.loop_thread(), "one shared loop for both cells"

        _in_cell("first = aio.serve_async(echo); model = models.start('asyncio')")  # the first cell, again
        assert not first.running and not model.running, "the re-run cell's own servers stop"
        wait_for(lambda: not [t for t in threading.enumerate() if t.name == "sockcourse-model-asyncio"],
                 what="the model's own loop thread (per cell) to end")
        assert shared.running and second.running, "the shared loop and the other cell's server run on"
        with socket.create_connection(second.address, timeout=5) as client:
            client.sendall(b"alive")
            assert recv_exactly(client, 5) == b"alive"
    finally:
        lifecycle._before_cell(types.SimpleNamespace(raw_cell=None))
        registry.stop_all()


# -- arguments -------------------------------------------------------------------------
def test_reuse_address_and_setup_are_visible_and_apply_before_bind():
    seen = []

    def setup(sock):
        seen.append((sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR) != 0, sock.getsockname()[1]))

    for reuse in (True, False):
        with aio.serve_async(echo, reuse_address=reuse, setup=setup):
            pass
    assert seen == [(True, 0), (False, 0)], "setup sees the socket after SO_REUSEADDR and before bind()"
    aio.loop_thread().stop()


@pytest.mark.parametrize("call, error, words", [
    (lambda: aio.serve_async(lambda conn: None), TypeError, "must be an async function.*sockcourse.serve"),
    (lambda: aio.serve_async(_one_argument), TypeError, "cannot be called with a reader and a writer"),
    (lambda: aio.serve_async(echo, transport="udp"), ValueError, "Unknown transport 'udp'.*sockcourse.serve"),
    (lambda: aio.serve_async(echo, transport=["tcp"]), ValueError, "Unknown transport \\['tcp'\\]"),
    (lambda: aio.serve_async(echo, host="8.8.8.8"), ValueError, "not a loopback address"),
    (lambda: aio.serve_async(echo, port=70000), ValueError, "out of range"),
    (lambda: aio.serve_async(echo, transport="unix", port=5), ValueError, "named by a path"),
    (lambda: aio.serve_async(echo, path="/tmp/x.sock"), ValueError, "not on a path"),
    (lambda: aio.serve_async(echo, idle_timeout=-1), ValueError, "idle_timeout must be a positive"),
    (lambda: aio.serve_async(echo, idle_timeout=math.nan), ValueError, "finite.*use None for no limit"),
    (lambda: aio.serve_async(echo, idle_timeout=math.inf), ValueError, "finite.*use None for no limit"),
    (lambda: aio.serve_async(echo, backlog=10**20), ValueError, "backlog must be a whole number from 0"),
    (lambda: aio.serve_async(echo, backlog=-1), ValueError, "backlog must be a whole number from 0"),
    (lambda: aio.serve_async(echo, reuse_address="yes"), TypeError, "reuse_address must be True or False"),
    (lambda: aio.serve_async(echo, setup=5), TypeError, "setup must be a function"),
    (lambda: aio.serve_async(echo, trace="no"), TypeError, "trace must be True or False"),
])
def test_bad_input_is_refused_with_a_sentence_before_any_loop_starts(call, error, words):
    with pytest.raises(error, match=words) as caught:
        call()
    assert isinstance(caught.value, UsageError), "a course error the learner can act on"
    shallow = caught.value.__cause__ is None and (caught.value.__context__ is None
                                                   or caught.value.__suppress_context__)
    assert shallow, "raised shallow, with no chained traceback"
    assert loopthread._shared is None or not loopthread._shared.running, "a refused call started the loop"


async def _one_argument(reader):
    return None


def test_a_taken_port_is_refused_with_a_sentence():
    with socket.create_server(("127.0.0.1", 0)) as taken:
        with pytest.raises(OSError, match="already in use by another socket; use port=0"):
            aio.serve_async(echo, port=taken.getsockname()[1])
    assert not registry.running()


def test_serve_async_on_a_unix_path_removes_it(short_tmp):
    path = os.path.join(short_tmp, "aio.sock")
    with aio.serve_async(echo, transport="unix", path=path) as server:
        assert server.path == path and os.path.exists(path) and server.host is None
        assert repr(server).startswith(f"<AsyncServer echo unix {path} running")
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.settimeout(5)
            client.connect(path)
            client.sendall(b"local")
            assert recv_exactly(client, 5) == b"local"
    assert not os.path.exists(path)
    aio.loop_thread().stop()


def test_a_coroutines_own_timeout_error_is_not_reworded_as_the_loops_limit():
    async def gives_up():
        raise TimeoutError("the coroutine's own limit")

    async def sleeps():
        await asyncio.sleep(5)

    with pytest.raises(TimeoutError, match="the coroutine's own limit") as own:
        aio.run(gives_up(), timeout=5)
    assert not isinstance(own.value, SockcourseError)
    with pytest.raises(TimeoutError, match=r"did not finish within 0.1 s") as limit:
        aio.run(sleeps(), timeout=0.1)
    assert isinstance(limit.value, SockcourseError)
    aio.loop_thread().stop()
