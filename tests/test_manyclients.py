"""Tests of the many-clients measurement (sockcourse.manyclients): real server and client processes.

Its results must say plainly what happened, failures included; its bad
input is refused in a sentence before any process starts; and its clients
never reach past loopback.
"""

from __future__ import annotations

import json
import math
import socket
import threading

import psutil
import pytest

from sockcourse import manyclients, models
from sockcourse.core.errors import ArgumentError, MissingFileError

pytestmark = pytest.mark.timeout(120)


def model_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("sockcourse-model-")]


def children() -> list:
    return [p for p in psutil.Process().children(recursive=True) if p.status() != psutil.STATUS_ZOMBIE]


def test_the_model_names_are_those_of_the_models():
    assert manyclients.MODEL_NAMES == tuple(models.MODELS) == ("iterative", "threads", "selectors", "asyncio")


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


def test_held_is_what_the_kernel_lists_and_agrees_with_psutil():
    # The server process's own view (psutil, its sockets) against the kernel's (sock_diag, the port):
    # the connections it accepted, none of those still waiting in its accept queue.
    with models.start("iterative") as server:
        sockets = [socket.create_connection(server.address, timeout=5) for _ in range(4)]
        try:
            sampler = manyclients._Sampler(psutil.Process().pid, server.port)
            wait_for_count = 0
            for _ in range(200):  # the iterative model accepts the first one a moment later
                if sampler.held() == 1:
                    break
                wait_for_count += 1
                threading.Event().wait(0.01)
            own = [c for c in psutil.Process().net_connections(kind="tcp")
                   if c.laddr and c.laddr.port == server.port and c.raddr and c.status == "ESTABLISHED"]
            assert sampler.held() == len(own) == 1, "one accepted: the same count from the kernel and from psutil"
            from sockcourse.kernel import diag
            on_port = [row for row in diag.tcp_sockets({server.port}) if row[2][1] == server.port and row[1] == 1]
            assert len(on_port) == 4, "the kernel has four server ends; three wait in the queue, not held"
        finally:
            for s in sockets:
                s.close()


def test_kernel_memory_reads_what_the_kernel_reports():
    found = manyclients.kernel_memory()
    if found is None:
        pytest.skip("no /proc/meminfo here (not Linux)")
    assert set(manyclients.KERNEL_MEMINFO) <= set(found) and found["total"] == sum(found[k] for k in manyclients.KERNEL_MEMINFO)
    with open("/proc/meminfo") as source:
        slab = next(int(line.split()[1]) for line in source if line.startswith("Slab:"))
    assert abs(found["Slab"] - slab) < 64 * 1024, "Slab should be the kernel's own figure, in KiB"
    assert found["tcp_buffers"] is None or found["tcp_buffers"] >= 0


def test_a_run_counts_kernel_memory_and_threads_cost_more_of_it():
    threads = manyclients.measure("threads", 300, stall=2.0)
    if threads.kernel_mib is None:
        pytest.skip("no kernel memory figures here (not Linux)")
    selectors = manyclients.measure("selectors", 300, stall=2.0)
    assert threads.ok and selectors.ok
    # Each thread has a kernel stack (16 KiB on x86-64) besides its socket: several times the socket's cost.
    assert threads.kernel_mib > 2 * max(selectors.kernel_mib, 0.1), (threads.kernel_mib, selectors.kernel_mib)


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


def clients_processes() -> list:
    return [child for child in children() if "--jobs" in child.cmdline()]


def test_a_sweep_drives_every_run_with_one_clients_process_and_leaves_none():
    seen = []

    def progress(model, clients, run):
        if run is None:  # as a run starts: the clients process of the sweep is already there, or about to be
            return
        seen.append({child.pid for child in clients_processes()})

    runs = manyclients.sweep(["threads", "selectors"], counts=(1, 3), stall=1.0, progress=progress)
    assert all(run.ok for run in runs) and len(runs) == 4
    assert len(set().union(*seen)) == 1 and all(len(pids) == 1 for pids in seen), seen
    assert children() == [], "the sweep ends its clients process"


def test_the_clients_process_ends_at_the_end_of_its_jobs_and_refuses_a_bad_one():
    import subprocess
    import sys
    command = [sys.executable, "-m", "sockcourse.bench.manyclients", "clients", "--jobs"]
    done = subprocess.run(command, input="", capture_output=True, text=True, timeout=30)
    assert done.returncode == 0 and done.stdout == "", done.stderr
    done = subprocess.run(command, input='{"port": 1}\n', capture_output=True, text=True, timeout=30)
    assert done.returncode == 1 and "a job this process cannot run" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


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
    (lambda: manyclients.measure("forking", 10), "Unknown model 'forking'"),
    (lambda: manyclients.measure("threads", 0), "from 1 to 100,000"),
    (lambda: manyclients.measure("threads", 10, stall=-1), "stall must be a positive"),
    (lambda: manyclients.measure("threads", 10, size=0), "message size"),
    (lambda: manyclients.measure("threads", 10, host="10.0.0.1"), "not a loopback address"),
    (lambda: manyclients.measure("threads", 10, stall=math.inf), "stall must be a finite number of seconds"),
    (lambda: manyclients.measure("threads", 10, time_limit=math.nan), "time_limit must be a finite number"),
    (lambda: manyclients.waiting_times("threads", slow=math.inf), "slow must be a finite number"),
    (lambda: manyclients.sweep(["threads", "forking"]), "Unknown model 'forking'"),
])
def test_measure_refuses_bad_input_with_a_sentence(call, words):
    with pytest.raises(ValueError, match=words):
        call()
    assert children() == [], "refused before any process started"


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


# -- the clients never leave loopback --------------------------------------------------------
@pytest.mark.parametrize("host", ["10.0.0.1", "8.8.8.8", "0.0.0.0", "example.com", "::"])
def test_drive_refuses_other_hosts_before_any_socket_exists(host, monkeypatch):
    made = []
    real_socket = socket.socket

    def counting_socket(*args, **kwargs):
        made.append(args)
        return real_socket(*args, **kwargs)

    monkeypatch.setattr(manyclients.socket, "socket", counting_socket)
    with pytest.raises(ValueError, match=r"The host .* (loopback|every network interface)"):
        manyclients.drive(host, 9, 3)
    assert made == [], "no socket may be made for another host"


def test_drive_reaches_a_loopback_server():
    # The same call on loopback does make its sockets and gets its echoes: the refusal above is the check's.
    with models.start("threads") as server:
        report = manyclients.drive("127.0.0.1", server.port, 5, stall=2.0, time_limit=10.0)
    assert report["echoed"] == 5 and report["failed"] == {} and report["seconds"] > 0


@pytest.mark.parametrize("call, words", [
    (lambda: manyclients.drive("127.0.0.1", 0, 3), "Port 0 is not an address to connect to"),
    (lambda: manyclients.drive("127.0.0.1", 70000, 3), "out of range"),
    (lambda: manyclients.drive("127.0.0.1", 4000, 0), "number of clients must be a whole number from 1"),
    (lambda: manyclients.drive("127.0.0.1", 4000, 3, stall=math.nan), "stall must be a finite number"),
    (lambda: manyclients.drive("127.0.0.1", 4000, 3, in_flight=0), "in_flight must be a whole number"),
])
def test_drive_refuses_bad_input_with_a_sentence(call, words):
    with pytest.raises(ValueError, match=words):
        call()


# -- saved runs ------------------------------------------------------------------------------------
def test_load_and_save_say_what_is_wrong_with_the_file(tmp_path):
    with pytest.raises(MissingFileError, match=r"There is no file '.*nothing.json' to load runs from"):
        manyclients.load(tmp_path / "nothing.json")
    garbage = tmp_path / "garbage.json"
    garbage.write_bytes(b"\x00\xffnot json at all")
    with pytest.raises(ArgumentError, match=r"The file '.*garbage.json' is not JSON"):
        manyclients.load(garbage)
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"runs": [{"model": "threads", "colour": "blue"}]}))
    with pytest.raises(ArgumentError, match=r"is JSON, but not runs written by manyclients.save\(\)"):
        manyclients.load(other)
    other.write_text("[1, 2, 3]")
    with pytest.raises(ArgumentError, match=r"is JSON, but not runs written by manyclients.save\(\)"):
        manyclients.load(other)
    run = manyclients.Run("threads", 1, ok=True)
    with pytest.raises(MissingFileError, match=r"the folder '.*no-such-dir' does not exist"):
        manyclients.save([run], tmp_path / "no-such-dir" / "runs.json")
    with pytest.raises(TypeError, match=r"save\(\) takes a list of manyclients.Run"):
        manyclients.save(["threads"], tmp_path / "runs.json")
    with pytest.raises(TypeError, match=r"cannot be written as JSON"):
        manyclients.save([run], tmp_path / "runs.json", when=object())
    assert not (tmp_path / "runs.json").exists(), "nothing half-written"
    manyclients.save([run], tmp_path / "runs.json", command="a test")
    assert manyclients.load(tmp_path / "runs.json") == ([run], {"command": "a test"})
