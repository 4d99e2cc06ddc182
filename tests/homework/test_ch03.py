"""Chapter 03's checks beyond the wrong answers: they clean up after themselves, stay quick, and skip politely.

test_wrong.py proves that every condition can fail. Here: running a check
twice leaves no server, thread, descriptor or child process behind; an
answer that never stops is abandoned and still ends; the child program works
on its own, without the package; the checks keep to their time budget; and a
platform without SO_PEERCRED gets a sentence, not a failure.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import sockcourse
from sockcourse.homework import ch03, ch03_peers

from . import leftovers
from .conftest import load

HERE = Path(__file__).parent

pytestmark = [pytest.mark.skipif(not sys.platform.startswith("linux"), reason="chapter 03's homework checks need Linux"),
              pytest.mark.usefixtures("frozen_heap")]


@pytest.fixture(scope="module")
def solutions():
    return load(HERE / "solutions" / "ch03.py", "hw03")


def test_each_check_twice_leaves_nothing_behind_and_keeps_to_its_time(solutions):
    """Public once, graded twice, each question within the time a check may take (8 s public, 10 s graded)."""
    for question in ch03.QUESTIONS:
        question.run(getattr(solutions, question.answer), only=question.conditions[0].id)  # warm up lazy imports
    threads, fds, kids = set(threading.enumerate()), leftovers.descriptors(), leftovers.children()
    for graded, limit in ((False, 8.0), (True, 10.0), (True, 10.0)):
        for question in ch03.QUESTIONS:
            result = question.run(getattr(solutions, question.answer), graded=graded)
            assert result.score == result.max, result.text()
            assert not result.notes, result.text()
            assert result.seconds < limit, f"{question.id} took {result.seconds:.1f} s (graded={graded})"
    assert sockcourse.running() == []
    assert leftovers.settle(threads) == []
    assert leftovers.descriptors() == fds
    assert leftovers.children() == kids


def test_an_answer_that_never_stops_is_abandoned_and_still_ends():
    """The `"DONE"`-as-str server spins on a shut socket; closing it at the end makes its recvfrom() raise."""
    wrong = load(HERE / "wrong" / "ch03_q2_done_as_str.py", "hw03")
    threads, fds = set(threading.enumerate()), leftovers.descriptors()
    result = ch03.q2.run(wrong.answer, only="done")
    assert result.failed_ids() == ["done"]
    assert result.conditions[0].hint_id == "ch03.q2.done-bytes"
    assert leftovers.settle(threads) == []
    assert leftovers.descriptors() == fds
    assert sockcourse.running() == []


def test_the_busy_server_is_released_when_a_probe_blocks():
    """A probe without a timeout waits on a full queue; the check closes the listener, and nothing is left."""
    wrong = load(HERE / "wrong" / "ch03_q1_probe_blocks.py", "hw03")
    threads, fds = set(threading.enumerate()), leftovers.descriptors()
    started = time.monotonic()
    result = ch03.q1.run(wrong.answer, graded=True, only="busy")
    assert time.monotonic() - started < 4.0
    assert result.conditions[0].hint_id == "ch03.q1.probe-timeout"
    assert leftovers.settle(threads) == []
    assert leftovers.descriptors() <= fds + 1  # the worker's returned socket may wait for the garbage collector


def test_without_so_peercred_q4_skips_with_a_sentence(solutions, monkeypatch):
    monkeypatch.delattr(socket, "SO_PEERCRED")
    result = ch03.q4.run(solutions.authorize)
    assert {c.status for c in result.conditions} == {"skipped"}
    assert all("Linux" in c.message for c in result.conditions)
    assert result.score == 0 and result.max == 0


def test_the_child_program_runs_without_the_package(tmp_path):
    """ch03_peers.py is a plain script: with -I -S it starts without site-packages, and fails in one line."""
    missing = tmp_path / "nobody-listens.sock"
    done = subprocess.run([sys.executable, "-I", "-S", ch03.PEER_SCRIPT, "send-file", str(missing), str(tmp_path),
                           "7", "100"], capture_output=True, text=True, timeout=20)
    assert done.returncode == 1
    assert done.stderr.startswith("ch03_peers: FileNotFoundError"), done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert os.listdir(tmp_path) == []  # the file it made was unlinked before it tried to connect


def test_the_file_content_is_the_same_in_both_processes():
    assert ch03_peers.content(5, 200) == ch03_peers.content(5, 200)
    assert len(ch03_peers.content(5, 200)) == 200 and ch03_peers.content(5, 200).isascii()
    assert len(ch03_peers.content(5, 300_000)) == 300_000
    assert ch03_peers.content(5, 200) != ch03_peers.content(6, 200)
