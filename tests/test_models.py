"""Tests of the four server models (sockcourse.models) and of the many-clients measurement.

Every model must pass the same correctness test: 100 clients at once, each
checking that its own bytes come back, and a client that sends one byte at a
time. The measurement (sockcourse.manyclients) runs real server and client
processes; its results must say plainly what happened, failures included.
"""

from __future__ import annotations

import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from sockcourse import manyclients, models, registry
from sockcourse.core.errors import HandlerError
from conftest import wait_for

pytestmark = pytest.mark.timeout(120)


def model_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("sockcourse-model-")]


def one_client(address, number: int) -> bytes:
    """Send this client's own message, half-close, and return everything that came back."""
    message = manyclients.message_for(number, 200 + number)
    with socket.create_connection(address, timeout=10) as client:
        client.sendall(message)
        client.shutdown(socket.SHUT_WR)
        parts = []
        while part := client.recv(65536):
            parts.append(part)
    return b"".join(parts) == message


def byte_by_byte(address) -> bool:
    message = b"one byte at a time, each echoed before the next"
    got = bytearray()
    with socket.create_connection(address, timeout=10) as client:
        for value in message:
            client.sendall(bytes([value]))
            got += client.recv(1)
    return bytes(got) == message


@pytest.mark.parametrize("name", list(models.MODELS))
def test_every_model_echoes_100_concurrent_clients_and_a_byte_at_a_time(name):
    with models.start(name) as server:
        assert server.host == "127.0.0.1" and server.port > 0
        with ThreadPoolExecutor(max_workers=100) as pool:
            results = list(pool.map(lambda n: one_client(server.address, n), range(100)))
        assert results == [True] * 100, f"{results.count(False)} clients got wrong bytes back from {name}"
        assert byte_by_byte(server.address)
    assert not server.running and server not in registry.running()
    wait_for(lambda: not model_threads(), what=f"the {name} model's threads to end")
    server.stop()  # safe twice


@pytest.mark.parametrize("name", list(models.MODELS))
def test_stop_ends_a_model_even_with_a_silent_client_connected(name):
    server = models.start(name)
    with socket.create_connection(server.address, timeout=5) as silent:
        time.sleep(0.1)  # accepted by now (or queued, for the iterative model)
        started = time.monotonic()
        server.stop()
        assert time.monotonic() - started < 3, f"{name} took too long to stop"
        assert silent.recv(10) == b"", "the silent client's connection should be closed"
    wait_for(lambda: not model_threads(), what=f"the {name} model's threads to end")


def test_a_learners_own_model_runs_and_its_bug_is_raised_at_stop():
    def one_shot(listener, stop):
        listener.settimeout(5)
        conn, _ = listener.accept()
        with conn:
            conn.sendall(b"hi")
        raise KeyError("forgot something")

    server = models.start(one_shot)
    with socket.create_connection(server.address, timeout=5) as client:
        assert client.recv(10) == b"hi"
    with pytest.raises(HandlerError, match="raised KeyError") as caught:
        server.stop()
    assert isinstance(caught.value.__cause__, KeyError)


def test_the_asyncio_model_runs_on_a_loop_of_its_own_that_ends_with_it():
    with models.start("asyncio") as server:
        assert one_client(server.address, 7)
        assert any(name == "sockcourse-model-asyncio" for name in model_threads())
    wait_for(lambda: not model_threads(), what="the asyncio model's loop thread to end")


@pytest.mark.parametrize("model, error, words", [
    ("forking", ValueError, "Unknown server model 'forking'"),
    (42, TypeError, "must be a name such as 'threads'"),
    (lambda listener: None, TypeError, "takes 1 arguments"),
])
def test_bad_models_are_refused_with_a_sentence(model, error, words):
    with pytest.raises(error, match=words):
        models.start(model)


def test_each_model_source_is_one_readable_screen():
    for name in models.MODELS:
        text = models.source(name)
        assert text.startswith('"""Model '), f"{name}'s module should open with its docstring"
        assert len(text.splitlines()) <= 70, f"{name} should fit on one screen"
    with pytest.raises(ValueError, match="Only the course's own models"):
        models.source(lambda listener, stop: None)


# -- the measurement --------------------------------------------------------------------
def test_messages_differ_per_connection_and_have_the_asked_size():
    messages = {manyclients.message_for(i, 64) for i in range(1000)}
    assert len(messages) == 1000 and all(len(m) == 64 for m in messages)
    assert manyclients.message_for(3, 5) == b"00000"  # shorter than its number: still the size asked


def test_measure_serves_and_counts_what_the_server_held():
    run = manyclients.measure("threads", 50, stall=2.0)
    assert run.ok and run.echoed == 50 and not run.failed and not run.wrong, run
    assert run.held == 50, "the server should hold all 50 connections at the barrier"
    assert run.threads == 52, "50 conversations, the accepting thread and the main thread"
    assert run.seconds > 0 and run.memory_mib is not None and run.server_error is None

    run = manyclients.measure("selectors", 50, stall=2.0)
    assert run.ok and run.held == 50 and run.threads == 2, run


def test_measure_reports_an_iterative_server_that_cannot_hold_two_clients():
    run = manyclients.measure("iterative", 3, stall=0.3)
    assert not run.ok and run.echoed == 1 and run.held == 1, run
    assert "nothing moved for 0.3 s, with 2 of 3 connections still waiting" in run.gave_up
    assert run.seconds is None


def test_measure_does_not_start_a_run_the_descriptor_limit_forbids():
    soft, hard = manyclients.fd_limit()
    if hard is None or hard >= manyclients.MAX_CLIENTS:
        pytest.skip("this machine's hard descriptor limit is larger than any run the course allows")
    run = manyclients.measure("asyncio", hard, stall=1.0)
    assert not run.ok and run.note.startswith("not run:") and "hard RLIMIT_NOFILE" in run.note


def test_sweep_stops_a_model_at_its_first_failure_and_max_clients_says_so(tmp_path):
    seen = []
    runs = manyclients.sweep(["iterative", "asyncio"], counts=(4, 1, 2), stall=0.3,
                             progress=lambda model, clients, run: seen.append((model, clients, run is None)))
    assert [(r.model, r.clients, r.ok) for r in runs] == [
        ("iterative", 1, True), ("iterative", 2, False), ("asyncio", 1, True), ("asyncio", 2, True),
        ("asyncio", 4, True)]
    assert seen[:2] == [("iterative", 1, True), ("iterative", 1, False)]
    assert manyclients.max_clients(runs) == {"iterative": 1, "asyncio": 4}

    path = tmp_path / "runs.json"
    manyclients.save(runs, path, command="a test")
    loaded, about = manyclients.load(path)
    assert loaded == runs and about == {"command": "a test"}


def test_the_saved_results_shipped_with_the_course_load():
    runs, about = manyclients.load(manyclients.MEASURED)
    best = manyclients.max_clients(runs)
    assert set(best) == set(manyclients.MODEL_NAMES)
    assert "python -m sockcourse bench" in about["command"]
    for key in ("tcp_gbps", "rtt_us", "max_clients"):
        assert key in about["summary"]


def test_waiting_times_show_who_waits_for_the_slow_client():
    def ahead(rows):
        slow = next(row for row in rows if row["slow"])
        return sum(row["answered"] < slow["answered"] for row in rows if not row["slow"])

    iterative = manyclients.waiting_times("iterative", clients=3, slow=0.15)
    threads = manyclients.waiting_times("threads", clients=3, slow=0.15)
    assert all(row["ok"] for row in iterative + threads)
    assert ahead(iterative) == 0, "behind an iterative server, everyone waits for the slow client"
    assert ahead(threads) == 2, "with a thread per client, nobody waits for the slow one"
    assert not model_threads()


@pytest.mark.parametrize("call, words", [
    (lambda: manyclients.measure("forking", 10), "Unknown server model 'forking'"),
    (lambda: manyclients.measure("threads", 0), "from 1 to 100,000"),
    (lambda: manyclients.measure("threads", 10, stall=-1), "stall must be a positive"),
    (lambda: manyclients.measure("threads", 10, size=0), "message size"),
    (lambda: manyclients.measure("threads", 10, host="10.0.0.1"), "not a loopback address"),
])
def test_measure_refuses_bad_input_with_a_sentence(call, words):
    with pytest.raises(ValueError, match=words):
        call()


def test_the_clients_process_raises_its_own_descriptor_limit():
    soft, hard = manyclients.fd_limit()
    if hard is None:
        pytest.skip("no RLIMIT_NOFILE on this system")
    import resource
    import subprocess
    import sys
    code = ("from sockcourse import manyclients; import resource; manyclients.raise_fd_limit(); "
            "print(*resource.getrlimit(resource.RLIMIT_NOFILE))")
    low = min(256, hard)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30,
                          preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (low, hard)))
    new_soft, new_hard = map(int, done.stdout.split())
    assert new_hard == hard
    if hard == resource.RLIM_INFINITY:
        assert new_soft > low
    else:
        assert new_soft == hard, "the soft limit should have been raised to the hard one"
