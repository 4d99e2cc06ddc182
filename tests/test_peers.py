"""Tests of sockcourse.peers: reading a child's lines, ending a child, toolchains as data, outside programs.

Every child is a real process (Python, sh, the C compiler); every wait in
them is bounded, and the tests check that nothing outlives them.
"""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import tempfile
import time

import psutil
import pytest

from sockcourse import bench, peers, registry
from sockcourse.core.errors import BuildError, PeerError, SockcourseError
from sockcourse.peers import outside, process, toolchains

pytestmark = pytest.mark.timeout(60)

has_compiler = pytest.mark.skipif(toolchains.compiler() is None, reason="no C compiler on this machine")


def python(code: str, **options) -> subprocess.Popen:
    options.setdefault("stdout", subprocess.PIPE)
    options.setdefault("stderr", subprocess.PIPE)
    options.setdefault("stdin", subprocess.PIPE)
    return subprocess.Popen([sys.executable, "-c", code], **options)


def children() -> list:
    return [p for p in psutil.Process().children(recursive=True) if p.status() != psutil.STATUS_ZOMBIE]


# -- read_line -----------------------------------------------------------------------------
def test_read_line_gives_one_line_at_a_time_and_keeps_a_line_cut_by_the_timeout():
    child = python("import sys, time\n"
                   "print('one'); print('two', flush=True)\n"
                   "sys.stdout.write('hal'); sys.stdout.flush(); time.sleep(0.6)\n"
                   "print('f', flush=True)\n"
                   "sys.stdout.write('last, without a newline')")
    try:
        assert process.read_line(child, 10) == "one"
        assert process.read_line(child.stdout, 10) == "two"  # the pipe itself works as well as the process
        started = time.monotonic()
        assert process.read_line(child, 0.2) is None, "half a line is not a line"
        assert 0.15 < time.monotonic() - started < 0.5
        assert process.read_line(child, 10) == "half", "the first half was kept for the next call"
        assert process.read_line(child, 10) == "last, without a newline"
        with pytest.raises(EOFError):
            process.read_line(child, 10)
    finally:
        assert process.end_process(child, 5) == ""
    assert child.returncode == 0 and child.stdout.closed


def test_read_line_refuses_what_it_cannot_read_in_a_sentence():
    child = python("pass", stdout=subprocess.DEVNULL)
    try:
        with pytest.raises(PeerError, match=r"There is no pipe to read the program's lines from .* stdout=subprocess.PIPE"):
            process.read_line(child, 1)
        with pytest.raises(ValueError, match=r"The timeout must be a finite number of seconds, but got inf"):
            process.read_line(child, math.inf)
    finally:
        process.end_process(child, 5)


# -- end_process -----------------------------------------------------------------------------
def test_end_process_returns_what_a_child_said_as_it_ended():
    # It ends when its stdin ends, as the many-clients children do.
    child = python("import sys; sys.stdin.read(); print('bye from stderr', file=sys.stderr)")
    started = time.monotonic()
    assert process.end_process(child, 5) == "bye from stderr"
    assert time.monotonic() - started < 3 and child.returncode == 0
    assert child.stdin.closed and child.stdout.closed and child.stderr.closed
    assert process.end_process(child, 5) == "", "safe twice"


def test_end_process_terminates_then_kills_a_child_that_will_not_end():
    stubborn = python("import signal, sys, time\n"
                      "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
                      "print('ready', flush=True)\n"
                      "print('I ignore SIGTERM', file=sys.stderr, flush=True)\n"
                      "time.sleep(60)")
    assert process.read_line(stubborn, 10) == "ready"
    started = time.monotonic()
    said = process.end_process(stubborn, 0.3)
    elapsed = time.monotonic() - started
    assert stubborn.returncode == -signal.SIGKILL, "SIGTERM was ignored, so SIGKILL ended it"
    assert said == "I ignore SIGTERM"
    assert elapsed < 0.3 + process.TERMINATE_GRACE + 1.0, elapsed
    assert children() == []


def test_end_process_is_not_held_up_by_a_grandchild_that_keeps_stderr_open():
    # sh starts `sleep` in the background: it inherits stderr and would keep it open for 20 s.
    child = subprocess.Popen(["sh", "-c", "sleep 20 & echo $!; echo said >&2"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    grandchild = int(process.read_line(child, 10))
    try:
        started = time.monotonic()
        assert process.end_process(child, 5) == "said"
        assert time.monotonic() - started < process.STDERR_READ_LIMIT + 1.5
    finally:
        os.kill(grandchild, signal.SIGKILL)


# -- Peer ----------------------------------------------------------------------------------------
def test_a_peer_that_cannot_start_is_said_in_a_sentence_and_not_registered(tmp_path):
    missing = str(tmp_path / "no-such-program")
    with pytest.raises(PeerError, match=r"The program '.*no-such-program' could not be started \(No such file"):
        peers.Peer([missing, "--flag"])
    assert registry.running() == []
    with pytest.raises(TypeError, match=r"needs its command as a non-empty list of arguments, but got 'ls -l'"):
        peers.Peer("ls -l")
    with pytest.raises(TypeError, match=r"Each word of a peer's command must be a string or a path, but got 5"):
        peers.Peer([sys.executable, 5])
    assert registry.running() == []


def test_a_peer_keeps_what_it_said_on_stderr_for_after_its_stop():
    with peers.Peer([sys.executable, "-c", "import sys; print('going', file=sys.stderr); print('up')"]) as talker:
        assert talker.first_line() == "up"
        talker.process.wait(10)  # ended by itself: stop() then has nothing to signal
    assert talker.returncode == 0 and talker.stderr_text == "going"
    assert not talker.running and "ended (0)" in repr(talker)


def test_peer_error_is_the_course_s_error():
    assert peers.PeerError is PeerError and issubclass(PeerError, SockcourseError)
    assert peers.Peer is process.Peer and peers.command is process.command and peers.NAMES == process.NAMES


# -- toolchains ------------------------------------------------------------------------------------
def test_the_c_toolchain_is_data_and_its_source_is_where_it_says():
    chain = toolchains.toolchain("c")
    assert chain is toolchains.TOOLCHAINS["c"] and chain.env == "CC" and chain.candidates == ("cc", "gcc", "clang")
    assert "{source}" in chain.build and chain.run == ("{program}",)
    path = toolchains.source("pingpong")
    assert path.is_file() and path.parent == toolchains.SOURCES / "c" and path.name == "pingpong.c"
    assert toolchains.run_command("/tmp/x/pingpong", "--rounds", 5) == ["/tmp/x/pingpong", "--rounds", "5"]
    with pytest.raises(ValueError, match=r"Unknown language 'cobol'; expected one of 'c'"):
        toolchains.toolchain("cobol")
    with pytest.raises(ValueError, match=r"There is no C peer called 'java'; expected one of 'pingpong'"):
        toolchains.source("java")


def test_cc_names_the_compiler(monkeypatch):
    monkeypatch.setenv("CC", f"{sys.executable} -q")  # any program on PATH, with its words kept
    assert toolchains.compiler() == [sys.executable, "-q"]
    monkeypatch.setenv("CC", "no-such-compiler-here")
    assert toolchains.compiler() != ["no-such-compiler-here"], "a $CC that is not on PATH is passed over"


def test_a_compiler_that_fails_is_a_build_error_sentence_not_a_traceback(monkeypatch):
    monkeypatch.setenv("CC", "false")  # found, runs, and refuses everything without a word
    before = {name for name in os.listdir(tempfile.gettempdir()) if name.startswith("sockcourse-c-")}
    with pytest.raises(BuildError) as caught:
        bench.c_ping_pong("tcp", rounds=10)
    message = str(caught.value)
    assert isinstance(caught.value, SockcourseError), "one except catches every course error"
    assert message.startswith("The C compiler (") and "could not build pingpong.c: it exited with code 1" in message
    assert "(is $CC='false' a compiler?)" in message and message.endswith("it printed nothing.")
    assert caught.value.__cause__ is None and caught.value.__context__ is None
    after = {name for name in os.listdir(tempfile.gettempdir()) if name.startswith("sockcourse-c-")}
    assert after == before, "the private build folder is removed after a failed build too"


def test_a_compiler_that_complains_is_quoted(monkeypatch, tmp_path):
    complaining = tmp_path / "badcc"
    complaining.write_text("#!/bin/sh\necho 'pingpong.c:1: error: this compiler dislikes everything' >&2\nexit 4\n")
    complaining.chmod(0o755)
    monkeypatch.setenv("CC", str(complaining))
    with pytest.raises(BuildError, match=r"exited with code 4 .* it said:\npingpong.c:1: error: this compiler dislikes"):
        with toolchains.built("pingpong"):
            pass


def test_c_ping_pong_is_a_measurement_in_bench_not_in_peers():
    from sockcourse.bench import c_peer

    assert bench.c_ping_pong is c_peer.c_ping_pong
    assert not hasattr(toolchains, "c_ping_pong"), "peers build and run programs; measuring is bench's job"


@has_compiler
def test_c_ping_pong_measures_round_trips():
    samples = bench.c_ping_pong("unix", rounds=100, warmup=2)
    assert len(samples) == 100 and all(0 < s < 1 for s in samples)


# -- outside programs ----------------------------------------------------------------------------------
def test_iperf3_is_none_where_it_is_not_installed(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: no iperf3 on this PATH
    assert outside.iperf3_gbps(1.0) is None
    with pytest.raises(ValueError, match=r"The seconds must be a finite number of seconds, but got nan"):
        outside.iperf3_gbps(math.nan)


@pytest.mark.skipif(outside.shutil.which("iperf3") is None, reason="iperf3 is not installed")
def test_iperf3_measures_loopback_where_installed():
    assert outside.iperf3_gbps(1.0) > 0
    assert children() == []


def test_sockperf_is_none_where_it_is_not_installed(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: no sockperf on this PATH
    assert outside.sockperf_rtt_us(1.0) is None
    with pytest.raises(ValueError, match=r"The seconds must be a finite number of seconds, but got inf"):
        outside.sockperf_rtt_us(math.inf)


@pytest.mark.skipif(outside.shutil.which("sockperf") is None, reason="sockperf is not installed")
def test_sockperf_measures_loopback_round_trips_where_installed():
    rtt = outside.sockperf_rtt_us(1.0)
    assert isinstance(rtt, float) and 0 < rtt < 10_000, rtt
    assert children() == [], "the sockperf server is ended after its client"


def test_the_listening_port_of_a_child_comes_from_the_kernel():
    # What sockperf is asked: bind port 0 and listen, without saying which port it got.
    listener = python("import socket, time\n"
                      "s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()\n"
                      "print(s.getsockname()[1], flush=True); time.sleep(30)")
    silent = python("import time; time.sleep(30)")
    try:
        said = int(process.read_line(listener, 10))
        assert outside._listening_port(listener, 10) == said
        started = time.monotonic()
        assert outside._listening_port(silent, 0.3) is None, "a child that listens on nothing has no port"
        assert time.monotonic() - started < 2
    finally:
        process.end_process(listener, 0.1)
        process.end_process(silent, 0.1)
    assert outside._listening_port(listener, 5) is None, "an ended child listens on nothing"
