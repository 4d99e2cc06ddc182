"""Tests of the measurements (sockcourse.bench) and of the peer programs they and chapter 03 run (sockcourse.peers).

Everything runs on real sockets against real peers, on threads and in
processes. The tests check correctness (every byte arrives, each call returns
what it promises, nothing is left behind, broken peers are caught), never
how fast this machine is.
"""

from __future__ import annotations

import math
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import threading
import time

import psutil
import pytest

from sockcourse import bench, handlers, peers, registry, serve
from sockcourse.bench import c_peer, loopback, suite
from sockcourse.core.sockets import recv_exactly
from sockcourse.peers import bench_peer, toolchains

pytestmark = pytest.mark.timeout(60)

BOTH = pytest.mark.parametrize("kind", bench.KINDS)

has_compiler = pytest.mark.skipif(toolchains.compiler() is None, reason="no C compiler on this machine")


@pytest.fixture
def temp_dirs(monkeypatch):
    """The temporary folders bench makes, so a test can check that they are gone afterwards."""
    made = []
    real_mkdtemp = loopback.tempfile.mkdtemp

    def recording_mkdtemp(*args, **kwargs):
        made.append(real_mkdtemp(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(loopback.tempfile, "mkdtemp", recording_mkdtemp)
    return made


def children() -> list:
    return [p for p in psutil.Process().children(recursive=True) if p.status() != psutil.STATUS_ZOMBIE]


# -- round trips -----------------------------------------------------------------
@BOTH
def test_round_trips_on_a_thread_return_one_positive_time_each(kind, temp_dirs):
    times = bench.ping_pong_rtt(kind, rounds=200, peer="thread", warmup=5)
    assert len(times) == 200
    assert all(isinstance(t, float) and 0 < t < bench.TIMEOUT for t in times)
    assert all(not os.path.exists(d) for d in temp_dirs)
    assert not [t for t in threading.enumerate() if t.name == "sockcourse-bench-peer"]


@BOTH
def test_round_trips_with_a_peer_process_leave_no_process_behind(kind, temp_dirs):
    times = bench.ping_pong_rtt(kind, rounds=50, size=3000, peer="process")
    assert len(times) == 50 and min(times) > 0
    assert children() == [], "the peer process must have been waited for"
    assert registry.running() == []
    assert all(not os.path.exists(d) for d in temp_dirs)
    if kind == "unix":
        assert len(temp_dirs) == 1, "a UNIX measurement binds its socket in a private folder"


def test_large_messages_come_back_whole():
    # 300 kB does not fit in one recv(): the echo must be reassembled before the clock stops.
    times = bench.ping_pong_rtt("unix", rounds=5, size=300_000, peer="thread", warmup=0)
    assert len(times) == 5


def test_an_echo_that_changes_bytes_is_caught(monkeypatch):
    def mangling_echo(sock, size):
        buffer = bytearray(size)
        while bench_peer.recv_exactly(sock, size, buffer):
            sock.sendall(bytes(reversed(buffer)))

    monkeypatch.setattr(bench_peer, "echo", mangling_echo)
    with pytest.raises(bench.BenchError, match="came back changed"):
        bench.ping_pong_rtt("tcp", rounds=3, size=4, peer="thread", warmup=0)


def test_the_time_limit_ends_a_long_run_early():
    started = time.monotonic()
    times = bench.ping_pong_rtt("unix", rounds=bench.MAX_ROUNDS, peer="thread", warmup=0, time_limit=0.3)
    assert 1 <= len(times) < bench.MAX_ROUNDS
    assert time.monotonic() - started < 10, "the run should have stopped soon after its time limit"


# -- throughput -----------------------------------------------------------------------
@BOTH
def test_every_byte_arrives_in_order(kind):
    # A chunk that lines up with nothing (not with the pattern, not with the total).
    rate = bench.throughput(kind, total_bytes=3 * bench.MiB + 5, chunk=65_537, peer="thread", verify=True)
    assert isinstance(rate, float) and rate > 0


def test_throughput_with_a_peer_process(temp_dirs):
    rate = bench.throughput("unix", total_bytes=8 * bench.MiB, peer="process", verify=True)
    assert rate > 0
    assert children() == [] and registry.running() == []
    assert all(not os.path.exists(d) for d in temp_dirs)


def test_wrong_bytes_are_caught(monkeypatch):
    def wrong_source(sock, total, chunk):
        sock.sendall(b"\xff" * total)
        sock.recv(1)

    monkeypatch.setattr(bench_peer, "source", wrong_source)
    with pytest.raises(bench.BenchError, match="offset 0 are not the ones"):
        bench.throughput("tcp", total_bytes=1000, chunk=100, peer="thread", verify=True)


def test_a_peer_that_stops_early_is_caught(monkeypatch):
    def short_source(sock, total, chunk):
        sock.sendall(bench_peer.pattern(total)[: total // 2])  # and close: half is missing

    monkeypatch.setattr(bench_peer, "source", short_source)
    with pytest.raises(bench.BenchError, match="closed after 500 of 1,000 bytes"):
        bench.throughput("unix", total_bytes=1000, chunk=100, peer="thread")


def test_throughput_time_limit_stops_quietly():
    started = time.monotonic()
    rate = bench.throughput("unix", total_bytes=bench.MAX_TOTAL, peer="process", time_limit=0.3)
    assert rate > 0
    assert time.monotonic() - started < 15
    assert children() == []


# -- compare and table --------------------------------------------------------------------
def test_compare_measures_every_kind_and_table_shows_them():
    result = bench.compare(rounds=30, total_bytes=bench.MiB, repeats=2, peer="thread")
    assert set(result) == {"rtt", "throughput"}
    for kind in bench.KINDS:
        assert len(result["rtt"][kind]) == 30
        assert len(result["throughput"][kind]) == 2 and min(result["throughput"][kind]) > 0
    text = bench.table(result)
    assert text.count("Gbit/s") == 2 and "tcp" in text and "unix" in text and "µs" in text


# -- Python at one end, C at the other ---------------------------------------------------------
@pytest.fixture(scope="module")
def pingpong():
    if toolchains.compiler() is None:
        pytest.skip("no C compiler on this machine")
    with toolchains.built("pingpong") as program:
        yield program


@BOTH
@pytest.mark.parametrize("client, server", [("python", "c"), ("c", "python"), ("c", "c"), ("python", "python")])
def test_every_pairing_of_python_and_c_times_every_round(pingpong, kind, client, server):
    samples = c_peer.round_trips(client, server, kind, rounds=150, warmup=5, size=3, program=pingpong)
    assert len(samples) == 150 and all(isinstance(s, float) and 0 < s < bench.TIMEOUT for s in samples)
    assert children() == [], "every peer, Python or C, has been waited for"


@has_compiler
def test_round_trips_builds_the_c_program_when_not_given_one(temp_dirs):
    assert len(c_peer.round_trips("python", "c", "unix", rounds=20)) == 20
    assert children() == []


@pytest.mark.parametrize("client, server, words", [
    ("python", "c", "The C echo peer ended with exit code 1 during the round trips"),
    ("c", "python", "pingpong failed with exit code 1"),
])
def test_a_c_side_that_is_not_pingpong_is_caught(client, server, words):
    # `false` is a real program that exits with 1 at once: an echo that echoes nothing, a client that times nothing.
    program = shutil.which("false")
    if program is None:
        pytest.skip("this machine has no 'false' program")
    with pytest.raises(bench.BenchError, match=words):
        c_peer.round_trips(client, server, "tcp", rounds=10, program=program)
    assert children() == []


@has_compiler
def test_the_c_program_refuses_a_descriptor_that_is_not_a_socket(pingpong):
    for option in ("--fd", "--echo-fd"):
        with open(os.devnull, "rb") as not_a_socket:
            done = subprocess.run([pingpong, option, str(not_a_socket.fileno())], pass_fds=(not_a_socket.fileno(),),
                                  capture_output=True, text=True, timeout=30)
        assert done.returncode == 2 and "is not a connected stream socket" in done.stderr, done.stderr
    done = subprocess.run([pingpong, "--fd", "3", "--echo-fd", "4"], capture_output=True, text=True, timeout=30)
    assert done.returncode == 2 and "three different runs" in done.stderr, done.stderr


# -- pairings held open, timed a block at a time (the suite's turns) ------------------------------
@BOTH
@pytest.mark.parametrize("client, server", [("python", "c"), ("c", "python"), ("c", "c"), ("python", "python")])
def test_a_pairing_times_block_after_block_on_one_connection(pingpong, kind, client, server):
    with c_peer.pairing(client, server, kind, warmup=5, size=3, program=pingpong) as pair:
        blocks = [pair.block(rounds) for rounds in (40, 1, 25)]
        busy = len(children())
    assert [len(block) for block in blocks] == [40, 1, 25]
    assert all(isinstance(s, float) and 0 < s < bench.TIMEOUT for block in blocks for s in block)
    assert busy >= 1, "the processes stay up between blocks"
    assert children() == [], "closing the pairing waits for every process behind it"
    with pytest.raises(bench.BenchError, match="is closed"):
        pair.block(5)


def test_several_pairings_take_turns_while_all_stay_open(pingpong):
    with c_peer.pairing("python", "python", "tcp", program=pingpong) as py, \
            c_peer.pairing("c", "c", "tcp", program=pingpong) as c:
        for _ in range(3):
            assert len(py.block(20)) == 20 and len(c.block(20)) == 20
    assert children() == []


@pytest.mark.parametrize("client, server, words", [
    ("python", "c", "The C echo peer ended with exit code 1 during the round trips"),
    ("c", "c", "The C client ended with exit code 1 during the round trips"),
    ("c", "python", "The C client ended with exit code 1 during the round trips"),
])
def test_a_pairing_whose_c_side_is_not_pingpong_fails_its_block_in_a_sentence(client, server, words):
    program = shutil.which("false")
    if program is None:
        pytest.skip("this machine has no 'false' program")
    with pytest.raises(bench.BenchError, match=words):
        pair = c_peer.pairing(client, server, "tcp", warmup=0, program=program)
        pair.block(10)
    assert children() == []


@has_compiler
def test_the_control_mode_answers_blocks_and_refuses_what_it_cannot_do(pingpong):
    ours, theirs = socket.socketpair()
    with ours, theirs:
        process = subprocess.Popen([pingpong, "--control", str(theirs.fileno()), "--warmup", "3", "--unix"],
                                   pass_fds=(theirs.fileno(),), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        theirs.close()
        ours.settimeout(20)
        ours.sendall((7).to_bytes(4, "big"))
        answer = recv_exactly(ours, 7 * 8, eof_ok=False)
        assert all(0 < ns < 10**10 for ns in memoryview(answer).cast("q")), "seven times in nanoseconds"
        ours.sendall((c_peer.MAX_BLOCK + 1).to_bytes(4, "big"))
        out, err = process.communicate(timeout=20)
    assert process.returncode == 2 and f"the most is {c_peer.MAX_BLOCK}" in err.decode(), err
    assert out == b"", "the control mode prints nothing on stdout"
    done = subprocess.run([pingpong, "--control", "3", "--echo-fd", "4"], capture_output=True, text=True, timeout=30)
    assert done.returncode == 2 and "pass one of them" in done.stderr, done.stderr
    with open(os.devnull, "rb") as not_a_socket:
        done = subprocess.run([pingpong, "--control", str(not_a_socket.fileno())], pass_fds=(not_a_socket.fileno(),),
                              capture_output=True, text=True, timeout=30)
    assert done.returncode == 2 and "is not a connected stream socket" in done.stderr, done.stderr


def test_turns_keep_python_and_c_side_by_side_and_let_each_lead():
    names = [name for name, *_ in suite._PAIRINGS]
    orders = [suite.turn_order(turn, names) for turn in range(8)]
    for order in orders:
        assert sorted(order) == sorted(names), "every pairing once a turn"
        assert abs(order.index("python") - order.index("c")) == 1, order
    assert {order[0] for order in orders} == {"python", "c", "python-c", "c-python", "unix"}, "each leads in turn"
    python_first = [order.index("python") < order.index("c") for order in orders[:2]]
    assert python_first == [True, False], "first one half, then the other"
    assert suite.turn_order(0, ["unix", "python-c"]) == ["unix", "python-c"], "without C, the rest still turn"
    assert suite.turn_order(1, ["python"]) == ["python"]


def test_a_plan_splits_its_rounds_into_turns():
    plan = suite.Plan("t", total_bytes=1, throughput_seconds=1.0, repeats=1, rounds=1000, counts=(1,), stall=1.0,
                      turn=300)
    assert (plan.turns, plan.turn_rounds) == (3, 300)
    tiny = suite.Plan("t", total_bytes=1, throughput_seconds=1.0, repeats=1, rounds=1, counts=(1,), stall=1.0)
    assert (tiny.turns, tiny.turn_rounds) == (1, 1), "a plan smaller than one turn still measures"
    for plan in (suite.QUICK, suite.FULL):
        assert plan.turns >= 5 and plan.turns * plan.turn_rounds == plan.rounds


# -- the suite's arithmetic: spreads, paired ratios, which trials run sockperf ----------------------
def test_a_spread_is_the_median_smallest_largest_and_count_of_what_was_measured():
    assert suite.Spread.of([3.0, None, 1.0, 2.0, 10.0]) == suite.Spread(2.5, 1.0, 10.0, 4)
    assert suite.Spread.of([1.5]) == suite.Spread(1.5, 1.5, 1.5, 1)
    assert suite.Spread.of([None, None]) == suite.Spread(None, None, None, 0)
    assert suite.Spread.of([]) == suite.Spread(None, None, None, 0)


def test_ratios_are_taken_trial_by_trial():
    assert suite.paired_ratios([2.0, None, 3.0, 9.0], [1.0, 2.0, 0, 3.0]) == [2.0, None, None, 3.0]
    # A ratio of the medians would say 1.0 here; trial by trial, each trial's own halves are compared.
    assert suite.Spread.of(suite.paired_ratios([10.0, 20.0, 30.0], [20.0, 10.0, 15.0])).median == 2.0


@pytest.mark.parametrize("trials, wanted, chosen", [
    (7, 1, {3}), (11, 3, {1, 5, 9}), (5, 0, set()), (2, 5, {0, 1}), (1, 1, {0}),
])
def test_sockperf_runs_in_trials_spread_over_the_run(trials, wanted, chosen):
    plan = suite.Plan("t", total_bytes=1, throughput_seconds=1.0, repeats=1, rounds=1, counts=(1,), stall=1.0,
                      trials=trials, sockperf_trials=wanted)
    assert {trial for trial in range(trials) if plan.sockperf_in(trial)} == chosen


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="no CPU affinity on this system")
def test_a_peer_process_started_on_one_cpu_runs_on_that_cpu():
    # The suite pins its streams and round trips this way: what starts inside one_cpu() inherits it.
    with suite.one_cpu() as cpu, loopback.peer_connection("tcp", "process") as conn:
        (peer,) = psutil.Process().children()
        assert peer.cpu_affinity() == [cpu]
        conn.sendall(bench_peer.REQUEST.pack(bench_peer.SOURCE, 1024, 1024))
        assert len(recv_exactly(conn, 1024, what="the peer's bytes")) == 1024
    assert children() == []


def test_every_plan_announces_as_many_steps_as_it_takes():
    for plan in (suite.QUICK, suite.FULL):
        assert plan.steps == plan.repeats * 3 + plan.trials + 1
        assert plan.trials >= 5, "a median and a spread need several trials"


# -- bad input ----------------------------------------------------------------------------
@pytest.mark.parametrize("call, named", [
    (lambda: bench.ping_pong_rtt("udp"), "'udp'"),
    (lambda: bench.ping_pong_rtt("tcp", peer="fork"), "'fork'"),
    (lambda: bench.ping_pong_rtt("tcp", rounds=0), "0"),
    (lambda: bench.ping_pong_rtt("tcp", rounds=True), "True"),
    (lambda: bench.ping_pong_rtt("tcp", size=bench.MAX_SIZE + 1), str(bench.MAX_SIZE + 1)),
    (lambda: bench.ping_pong_rtt("tcp", time_limit=0), "0"),
    (lambda: bench.throughput("unix", total_bytes=-1), "-1"),
    (lambda: bench.throughput("unix", chunk=2.5), "2.5"),
    (lambda: bench.compare(("tcp", "sctp")), "'sctp'"),
    (lambda: bench.compare(repeats=0), "0"),
    (lambda: bench.ping_pong_rtt("tcp", time_limit=math.inf), "inf"),
    (lambda: bench.ping_pong_rtt("tcp", time_limit=math.nan), "nan"),
    (lambda: bench.throughput("unix", time_limit=math.inf), "inf"),
    (lambda: bench.c_ping_pong("tcp", rounds=0), "0"),
    (lambda: bench.c_ping_pong("sctp"), "'sctp'"),
    (lambda: c_peer.round_trips("java", "c"), "'java'"),
    (lambda: c_peer.round_trips("c", "rust"), "'rust'"),
    (lambda: c_peer.round_trips("python", "c", "udp"), "'udp'"),
    (lambda: c_peer.round_trips("python", "c", rounds=-5), "-5"),
    (lambda: c_peer.round_trips("python", "c", time_limit=math.nan), "nan"),
    (lambda: c_peer.pairing("java", "c"), "'java'"),
    (lambda: c_peer.pairing("python", "python", "udp"), "'udp'"),
    (lambda: c_peer.pairing("python", "python", warmup=-1), "-1"),
])
def test_bad_input_is_refused_in_one_sentence(call, named):
    with pytest.raises(ValueError) as caught:
        call()
    message = str(caught.value)
    assert named in message and message.endswith(".") and ("for example" in message or "pass" in message)
    assert children() == []


# -- the peer programs and Peer ----------------------------------------------------------
def test_peer_command_names_a_real_program():
    for name in peers.NAMES:
        argv = peers.command(name, "x")
        assert argv[0] == sys.executable and os.path.isfile(argv[1]) and argv[2] == "x"
    with pytest.raises(ValueError, match="no peer program called 'nope'.*'unix_client'"):
        peers.command("nope")


def test_peer_first_line_waits_then_explains():
    with peers.Peer([sys.executable, "-c", "import time; time.sleep(30)"], name="sleeper") as sleeper:
        assert sleeper in registry.running()
        with pytest.raises(peers.PeerError, match="printed no line within 0.3 s"):
            sleeper.first_line(timeout=0.3)
    assert sleeper.process.returncode is not None, "the with block must end the program"
    sleeper.stop()  # safe twice
    assert sleeper.returncode == sleeper.process.returncode == -signal.SIGINT, "ended by its stop signal"
    assert sleeper.process.stdout.closed and sleeper.process.stderr.closed
    assert registry.running() == []


def test_peer_that_dies_early_shows_its_stderr():
    program = "import sys; print('cannot start: no such thing', file=sys.stderr); sys.exit(3)"
    with peers.Peer([sys.executable, "-c", program]) as dying:
        with pytest.raises(peers.PeerError, match="exit code 3 .*cannot start: no such thing"):
            dying.first_line(timeout=10)


def test_peer_lines_come_one_at_a_time():
    with peers.Peer([sys.executable, "-c", "print('one'); print('two')"]) as talker:
        assert talker.first_line() == "one"
        assert talker.first_line() == "two"


def test_unix_client_talks_and_is_refused_by_the_file_mode(short_tmp):
    path = os.path.join(short_tmp, "guarded.sock")
    someone_else = ["--as-user", "nobody"] if os.geteuid() == 0 else []
    os.chmod(short_tmp, 0o755)  # so that only the socket's own mode decides
    with serve(handlers.upper, transport="unix", path=path):
        outcomes = []
        for mode in (0o666, 0o444):
            os.chmod(path, mode)
            done = subprocess.run(peers.command("unix_client", path, "--message", "hi", *someone_else),
                                  capture_output=True, text=True, timeout=20)
            outcomes.append((done.returncode, done.stdout.strip()))
    assert outcomes == [(0, "connected; the reply was b'HI'"),
                        (1, "PermissionError: [Errno 13] Permission denied")]


def test_fd_receiver_reads_a_file_that_has_no_name(short_tmp):
    import json

    note = os.path.join(short_tmp, "note")
    with open(note, "wb") as f:
        f.write(b"only through the descriptor")
    fd = os.open(note, os.O_RDONLY)
    os.unlink(note)
    path = os.path.join(short_tmp, "handoff.sock")
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
            listener.bind(path)
            listener.listen(1)
            listener.settimeout(15)
            with peers.Peer(peers.command("fd_receiver", path)) as child:
                conn, _ = listener.accept()
                conn.settimeout(10)
                with conn, conn.makefile("rb") as lines:
                    hello = json.loads(lines.readline())
                    socket.send_fds(conn, [json.dumps({"path": note}).encode() + b"\n"], [fd])
                    report = json.loads(lines.readline())
                assert child.process.wait(timeout=10) == 0
        assert hello["pid"] == child.pid
        assert report["open_by_path"] == "FileNotFoundError"
        assert report["read"] == "only through the descriptor"
        assert report["links"] == 0 and report["inode"] == os.fstat(fd).st_ino
        assert os.lseek(fd, 0, os.SEEK_CUR) == len(b"only through the descriptor"), "one shared offset"
    finally:
        os.close(fd)
    assert stat.S_ISSOCK(os.stat(path).st_mode)  # a bound path stays until unlinked


def test_bench_peer_refuses_other_hosts_and_bad_usage():
    done = subprocess.run(peers.command("bench_peer", "--tcp", "192.0.2.1", "9"), capture_output=True,
                          text=True, timeout=20)
    assert done.returncode == 2 and "loopback" in done.stderr
