"""Tests of sockcourse.aio: the asyncio loop on its own thread, and serve_async() on it.

Real sockets and a real event loop throughout: the loop must start, serve,
and stop with nothing left pending (every task finished, the loop closed,
its thread gone), and do so again.
"""

from __future__ import annotations

import asyncio
import gc
import os
import socket
import threading
import time
import warnings

import pytest

from sockcourse import aio, registry
from sockcourse.core import loopthread
from sockcourse.core.errors import HandlerError
from conftest import recv_exactly, wait_for

pytestmark = pytest.mark.timeout(60)


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
        assert not loop_thread.running
        wait_for(lambda: not loop_threads(), what="the loop thread to end")
        assert loop_thread not in registry.running()
        loop_thread.stop()  # safe twice


def test_a_stopped_loop_refuses_work_with_a_sentence():
    loop_thread = aio.LoopThread(name="sockcourse-asyncio-test").start()
    loop_thread.stop()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(RuntimeError, match="has stopped; start a new one"):
            loop_thread.run(asyncio.sleep(0))
        gc.collect()
    assert not [w for w in caught if "never awaited" in str(w.message)], "the refused coroutine was not closed"
    with pytest.raises(TypeError, match="Expected a coroutine"):
        aio.loop_thread().submit(asyncio.sleep)  # the function, not a coroutine
    aio.loop_thread().stop()


def test_run_gives_up_and_cancels_after_its_timeout():
    loop_thread = aio.loop_thread()
    try:
        with pytest.raises(TimeoutError, match="did not finish within 0.2 s"):
            loop_thread.run(asyncio.sleep(30), timeout=0.2)
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


def test_serve_async_echoes_records_and_stops_cleanly():
    with aio.serve_async(echo) as server:
        assert server.host == "127.0.0.1" and server.port > 0 and server.path is None
        with socket.create_connection(server.address, timeout=5) as client:
            client.sendall(b"hello, asyncio")
            assert recv_exactly(client, 14) == b"hello, asyncio"
            client.shutdown(socket.SHUT_WR)
            assert client.recv(10) == b""
    kinds = [e.kind for e in server.trace]
    assert kinds == ["listen", "accept", "recv", "send", "eof", "close", "stop"], kinds
    assert server.trace.bytes_in() == server.trace.bytes_out() == 14
    assert not server.running and server not in registry.running()
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
    assert server.connections == 50
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
    server.stop()  # the error was raised once
    aio.loop_thread().stop()


def test_serve_async_on_a_unix_path_removes_it(short_tmp):
    path = os.path.join(short_tmp, "aio.sock")
    with aio.serve_async(echo, transport="unix", path=path) as server:
        assert server.path == path and os.path.exists(path)
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.settimeout(5)
            client.connect(path)
            client.sendall(b"local")
            assert recv_exactly(client, 5) == b"local"
    assert not os.path.exists(path)
    aio.loop_thread().stop()


def test_the_loop_cannot_stop_itself_from_inside():
    loop_thread = aio.loop_thread()
    try:
        async def stop_from_inside():
            loop_thread.stop()

        with pytest.raises(RuntimeError, match="cannot stop itself from a coroutine"):
            loop_thread.run(stop_from_inside(), timeout=5)
        assert loop_thread.running
    finally:
        loop_thread.stop()


def test_stopping_the_loop_stops_its_servers():
    server = aio.serve_async(echo)
    aio.loop_thread().stop()
    assert not server.running and server not in registry.running()


@pytest.mark.parametrize("call, error, words", [
    (lambda: aio.serve_async(lambda conn: None), TypeError, "must be an async function"),
    (lambda: aio.serve_async(echo, transport="udp"), ValueError, "Unknown transport 'udp'"),
    (lambda: aio.serve_async(echo, host="8.8.8.8"), ValueError, "not a loopback address"),
    (lambda: aio.serve_async(echo, port=70000), ValueError, "out of range"),
    (lambda: aio.serve_async(echo, transport="unix", port=5), ValueError, "named by a path"),
    (lambda: aio.serve_async(echo, idle_timeout=-1), ValueError, "idle_timeout must be a positive"),
])
def test_bad_input_is_refused_with_a_sentence(call, error, words):
    with pytest.raises(error, match=words):
        call()
    if loopthread._shared is not None and loopthread._shared.running:
        loopthread._shared.stop()


def test_a_taken_port_is_refused_with_a_sentence():
    with socket.create_server(("127.0.0.1", 0)) as taken:
        with pytest.raises(OSError, match="already in use by another socket; use port=0"):
            aio.serve_async(echo, port=taken.getsockname()[1])
    aio.loop_thread().stop()
