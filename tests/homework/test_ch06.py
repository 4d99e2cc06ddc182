"""Chapter 06's checks beyond the wrong answers: they clean up, their stand-ins are honest, two languages agree.

test_wrong.py proves that every condition can fail. Here: running each check
twice leaves no server, thread, descriptor or child process behind; where
Java or a C compiler is missing, the Python stand-ins of ch06_peers.py take
their place with a note, and the solutions still earn every point; the C
sensor and its stand-in send the same bytes, and the Java server and its
stand-in answer alike, byte for byte and line for line; an answer that
waits for ever is abandoned, and still leaves nothing behind.

About 15 s in all on a quiet machine, most of it the JVM starting and ending.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import sockcourse
from sockcourse.homework import ch06, ch06_peers
from sockcourse.peers import native, toolchains
from sockcourse.peers.process import Peer
from sockcourse.protocols import javautf

from . import leftovers
from .conftest import load

HERE = Path(__file__).parent

needs_c = pytest.mark.skipif(not native.available("c"), reason="no C compiler here: install one, for example "
                                                               "with 'apt-get install gcc'")
needs_java = pytest.mark.skipif(not native.available("java"), reason="no JDK here: install one, for example with "
                                                                     "'apt-get install default-jdk-headless'")


pytestmark = pytest.mark.usefixtures("frozen_heap")


@pytest.fixture(scope="module")
def solutions():
    return load(HERE / "solutions" / "ch06.py", "hw06")


def test_each_check_twice_leaves_nothing_behind(solutions):
    """Public once, graded twice: full marks, no notes, and nothing left: servers, threads, descriptors, children."""
    for question in ch06.QUESTIONS:  # warm up: lazy imports (pymodbus), the builds, the first JVM
        question.run(getattr(solutions, question.answer), only=question.conditions[0].id)
    threads, fds, kids = set(threading.enumerate()), leftovers.descriptors(), leftovers.children()
    took = []
    for graded in (False, True, True):
        for question in ch06.QUESTIONS:
            result = question.run(getattr(solutions, question.answer), graded=graded)
            assert result.score == result.max and result.status == "passed", result.text()
            took.append(f"{question.id}{' graded' if graded else ''} {result.seconds:.1f} s")
            if native.available("java") and native.available("c"):
                assert not result.notes, result.text()
    print("; ".join(took))  # the times, for a human who runs with -s; no assertion on them
    assert sockcourse.running() == []
    assert leftovers.settle(threads) == []
    assert leftovers.descriptors() == fds
    assert leftovers.children() == kids


def test_without_java_or_a_compiler_the_stand_ins_play_and_say_so(solutions, monkeypatch):
    """native.start as on a machine with neither: every point still earned, and a note names what was missing."""
    def unavailable(name, language, *args, timeout=10.0):
        raise native.Unavailable(f"No {language} toolchain was found (a test pretends so).")
    monkeypatch.setattr(ch06.native, "start", unavailable)
    for question in (ch06.q1, ch06.q3):
        result = question.run(getattr(solutions, question.answer), graded=True)
        assert result.score == result.max, result.text()
        assert any("Python stand-in" in note and "a test pretends so" in note for note in result.notes), result.text()
    assert sockcourse.running() == []


def test_the_stand_ins_catch_the_same_mistakes():
    """A wrong answer fails where it fails against the real peers, with the same hint."""
    wrong = load(HERE / "wrong" / "ch06_q1_plain_utf8.py", "hw06")
    real = ch06.q1.run(wrong.answer, only=["nul", "emoji"])
    original = ch06.native.start

    def unavailable(name, language, *args, timeout=10.0):
        raise native.Unavailable("No toolchain (a test pretends so).")
    ch06.native.start = unavailable
    try:
        stand_in = ch06.q1.run(wrong.answer, only=["nul", "emoji"])
    finally:
        ch06.native.start = original
    assert real.failed_ids() == stand_in.failed_ids() == ["nul", "emoji"]
    assert real.hint_ids() == stand_in.hint_ids()
    assert sockcourse.running() == []


def _reply_and_lines(peer, data: bytes) -> tuple[bytes, list[str]]:
    with socket.create_connection(peer.address, timeout=5) as conn:
        conn.sendall(data)
        conn.shutdown(socket.SHUT_WR)
        reply = b""
        while piece := conn.recv(65536):
            reply += piece
    return reply, peer.lines(0.5)


@needs_java
def test_the_java_stand_in_answers_as_java_does():
    """Same bytes in, same bytes and same printed line out: a good string, plain UTF-8's 4 bytes, a cut string."""
    inputs = [javautf.frame("a\0b 😀 é"), b"\x00\x04\xf0\x9f\x98\x80", b"\x00\x09abc", b"\x00\x02hi" + b"\x00"]
    env = dict(os.environ, PYTHONPATH=ch06.PACKAGE_ROOT)
    with native.start("UtfEchoServer", "java") as java:
        stand_in = ch06._StandIn(Peer([sys.executable, ch06.PEER_SCRIPT, "utf-echo"], env=env))
        try:
            for data in inputs:
                assert _reply_and_lines(java, data) == _reply_and_lines(stand_in, data), data
        finally:
            stand_in.stop()


@needs_c
@pytest.mark.parametrize("args", [("--count", "5", "--seed", "3"),
                                  ("--count", "7", "--seed", "0", "--little", "--cut", "3"),
                                  ("--mild", "--count", "4", "--no-magic"),
                                  ("::1", "--count", "1000", "--seed", "99"),
                                  ("--count", "0", "--no-magic")])
def test_the_c_sensor_and_its_stand_in_send_the_same_bytes(args):
    def received(peer):
        with socket.create_connection(peer.address, timeout=5) as conn:
            data = b""
            while piece := conn.recv(65536):
                data += piece
        return data, peer.lines(2.0, count=1)
    words = list(args)
    count = int(words[words.index("--count") + 1])
    seed = int(words[words.index("--seed") + 1]) if "--seed" in words else 1
    cut = int(words[words.index("--cut") + 1]) if "--cut" in words else 0
    expected = ch06_peers.record_bytes(count, seed, little="--little" in words, cut=cut,
                                       magic="--no-magic" not in words, mild="--mild" in words)
    with native.start("readings", "c", *args) as sensor:
        from_c = received(sensor)
    stand_in = ch06._StandIn(Peer([sys.executable, "-I", "-S", ch06.PEER_SCRIPT, "readings", *args]))
    try:
        from_python = received(stand_in)
    finally:
        stand_in.stop()
    assert from_c == from_python
    assert from_c[0] == expected
    assert from_c[1] == [f"sent {count} readings ({len(expected)} bytes, "
                         f"{'little-endian' if '--little' in words else 'network order'})"]


def test_the_readings_the_check_expects_are_the_ones_in_the_bytes():
    values = ch06_peers.readings(50, 12345)
    data = ch06_peers.record_bytes(50, 12345)
    assert data[:8] == b"READ\x00\x00\x00\x01"
    assert [ch06_peers.RECORD.unpack_from(data, i) for i in range(8, len(data), 8)] == values
    assert ch06_peers.record_bytes(3, 1, little=True)[:4] == b"DAER"
    assert len(ch06_peers.record_bytes(3, 1, cut=5)) == 8 + 3 * 8 + 5
    assert all(1500 <= t < 3000 and f < 16 for _, t, f in ch06_peers.readings(100, 9, mild=True))
    assert any(t < 0 for _, t, _ in values) and any(s >= 1 << 31 for s, _, _ in ch06_peers.readings(50, 7))


def test_the_stand_in_script_runs_without_the_package_and_fails_in_one_line():
    done = subprocess.run([sys.executable, "-I", "-S", ch06.PEER_SCRIPT, "readings", "10.0.0.1"],
                          capture_output=True, text=True, timeout=20)
    assert done.returncode == 1
    assert done.stderr.startswith("ch06_peers: ValueError: HOST must be a loopback address"), done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


@needs_c
def test_the_c_sensor_refuses_another_host_and_bad_arguments():
    built = toolchains.build("readings", "c")
    for args, said in ((["10.0.0.1"], "HOST must be a loopback address"), (["--cut", "9"], "--cut must be"),
                       (["--count"], "unknown argument")):
        done = subprocess.run(built.command(*args), capture_output=True, text=True, timeout=20)
        assert done.returncode == 2, (args, done.stderr)
        assert said in done.stderr, done.stderr


def test_an_answer_that_waits_for_ever_is_abandoned_and_leaves_nothing():
    """Skipping a response from another unit waits for one that never comes; the check's budget ends it."""
    wrong = load(HERE / "wrong" / "ch06_q2_skips_other_unit.py", "hw06")
    threads, fds = set(threading.enumerate()), leftovers.descriptors()
    result = ch06.q2.run(wrong.answer, graded=True, only="unit")
    assert result.failed_ids() == ["unit"]
    assert result.conditions[0].hint_id == "ch06.q2.unit-check"
    assert leftovers.settle(threads) == []
    assert leftovers.descriptors() == fds
    assert sockcourse.running() == []


def test_a_half_written_q1_is_failed_not_called_unattempted():
    wrong = load(HERE / "wrong" / "ch06_q1_read_stub.py", "hw06")
    result = ch06.q1.run(wrong.answer, only=["ascii"])
    assert result.status == "failed"
    assert result.hint_ids() == ["ch06.q1.both-functions"]
    stub = load(HERE / "wrong" / "ch06_q1_stub.py", "hw06")
    assert ch06.q1.run(stub.answer).status == "not-attempted"
    assert sockcourse.running() == []


def test_without_pymodbus_the_plc_conditions_skip_with_its_sentence(solutions, monkeypatch):
    def no_pymodbus(**settings):
        raise ch06.plc_peer.Unavailable("The PLC needs pymodbus, which could not be imported here (a test "
                                        "pretends so); install it with pip install 'pymodbus>=3.16,<4'.")
    monkeypatch.setattr(ch06.plc_peer, "PLC", no_pymodbus)
    result = ch06.q2.run(solutions.read_holding_registers, graded=True)
    skipped = {c.id for c in result.conditions if c.status == "skipped"}
    assert skipped == {"ten", "chunk3", "exception"}, result.text()
    assert all("pymodbus" in c.message for c in result.conditions if c.status == "skipped")
    assert result.score == result.max == 5, result.text()
