"""Tests of the measurements (sockcourse.bench) and of the peer programs they and chapter 03 run (sockcourse.peers).

Everything runs on real sockets against real peers, on threads and in
processes. The tests check correctness (every byte arrives, each call returns
what it promises, nothing is left behind, broken peers are caught), never
how fast this machine is.
"""

from __future__ import annotations

import math
import os
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
from sockcourse.bench import loopback
from sockcourse.peers import bench_peer

pytestmark = pytest.mark.timeout(60)

BOTH = pytest.mark.parametrize("kind", bench.KINDS)


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
