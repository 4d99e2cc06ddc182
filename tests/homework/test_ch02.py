"""Chapter 02's checks beyond the wrong answers: re-run safety, speed, and the arithmetic they rest on.

The wrong answers (wrong/ch02_*.py, run by test_wrong.py) prove that every
condition can fail. Here: a check run twice in one process leaves nothing
behind (no server, no thread, no open file), a correct answer's check stays
within the grader's time (8 s public, 10 s graded per question), every hint a
condition can name exists, and the pure helpers judge as the statement says.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import sockcourse
from sockcourse.homework import ch02

HERE = Path(__file__).parent


def _solutions():
    spec = importlib.util.spec_from_file_location("hw_solutions_ch02_here", HERE / "solutions" / "ch02.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SOLUTIONS = _solutions()


def _open_fds() -> int | None:
    for folder in ("/proc/self/fd", "/dev/fd"):
        if os.path.isdir(folder):
            return len(os.listdir(folder))
    return None


def _settled_threads(before: int, deadline: float = 2.0) -> int:
    """The thread count, once threads that are on their way out have ended."""
    end = time.monotonic() + deadline
    while threading.active_count() > before and time.monotonic() < end:
        time.sleep(0.02)
    return threading.active_count()


@pytest.mark.parametrize("question", ch02.QUESTIONS, ids=[q.id for q in ch02.QUESTIONS])
def test_check_twice_leaves_nothing_behind(question):
    answer = getattr(SOLUTIONS, question.answer)
    question(answer).assert_passed()
    threads, fds = threading.active_count(), _open_fds()
    question(answer).assert_passed()
    assert sockcourse.running() == []
    assert _settled_threads(threads) == threads, [t.name for t in threading.enumerate()]
    if fds is not None:
        assert _open_fds() == fds


# Timed in a fresh interpreter, as the grader runs each question in a fresh kernel: in a process as big as
# pytest's, every condition's garbage collection alone costs a good part of a second.
TIMING = """
import importlib.util, json, sys, time
from sockcourse.homework import ch02
spec = importlib.util.spec_from_file_location("solutions_ch02", sys.argv[1])
answers = importlib.util.module_from_spec(spec)
spec.loader.exec_module(answers)
found = {}
for question in ch02.QUESTIONS:
    timed = []
    for graded in (False, True):
        started = time.monotonic()
        result = question.run(getattr(answers, question.answer), graded=graded, seed=7 if graded else None)
        timed.append([round(time.monotonic() - started, 2), result.score == result.max, result.text()])
    found[question.id] = timed
print(json.dumps(found))
"""


def test_checks_of_correct_answers_are_within_the_graders_time():
    done = subprocess.run([sys.executable, "-c", TIMING, str(HERE / "solutions" / "ch02.py")], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout.strip().splitlines()[-1])
    for qid, ((public, public_ok, public_text), (graded, graded_ok, graded_text)) in found.items():
        assert public_ok, public_text
        assert graded_ok, graded_text
        assert public < 8.0, f"the public check of {qid} took {public} s"
        assert graded < 10.0, f"the graded check of {qid} took {graded} s"


def test_every_hint_a_condition_names_exists():
    source = Path(ch02.__file__).read_text()
    named = set(re.findall(r'hint="([a-z-]+)"', source))
    named |= set(re.findall(r'error_hint="([a-z-]+)"', source))
    named |= set(re.findall(r'too_many="([a-z-]+)"', source))
    named |= set(re.findall(r'wrong_hint="([a-z-]+)"', source))
    named |= set(re.findall(r'extra_hint="([a-z-]+)"', source))
    named |= set(re.findall(r'hint = "([a-z-]+)"', source))
    named |= set(re.findall(r'"([a-z-]+)" if ', source))  # the hints a verdict picks by the error's type
    hints = set().union(*(q.hints for q in ch02.QUESTIONS))
    assert len(named) > 20 and named <= hints, named - hints


def test_every_question_lists_its_conditions_in_order_from_plain():
    for question in ch02.QUESTIONS:
        ids = [c.id for c in question.conditions]
        assert 4 <= len(ids) <= 8 and len(set(ids)) == len(ids)
        assert not question.conditions[0].graded_only
        assert any(c.graded_only for c in question.conditions)
        # graded-only conditions come last, after the public ones
        flags = [c.graded_only for c in question.conditions]
        assert flags == sorted(flags)


def test_serial_number_arithmetic_wraps_at_16_bits():
    assert ch02._newer(65535, 0) and ch02._newer(65530, 3)
    assert not ch02._newer(0, 65535) and not ch02._newer(7, 7)
    assert ch02._newer(1, 2) and not ch02._newer(2, 1)


def test_a_ping_is_read_only_in_the_stated_format():
    assert ch02._parse_ping(b"PING 3 1712345678.25") == 3
    assert ch02._parse_ping(b"PING 12 5") == 12
    for bad in (b"Ping 3 1.0", b"PING three 1.0", b"PING 3", b"PING  3 1.0", b"PING 3 now"):
        assert ch02._parse_ping(bad) is None, bad


def test_pongs_right_at_the_timeout_count_either_way():
    truth = ch02._Pinged()
    truth.pings = [(b"a", 10.0), (b"b", 11.0), (b"c", 12.0), (b"d", 13.0)]
    truth.pongs = {b"a": [10.01], b"b": [11.5, 11.2], b"c": [12.6], b"d": []}
    # a: in time; b: its first copy at 0.2 s, right at a 0.2 s timeout; c: too late; d: none
    assert truth.fates(0.2) == (1, 1)
    assert truth.fates(0.5) == (2, 0)
    assert truth.fates(0.6) == (2, 1)


def test_the_reorder_condition_sends_the_newest_first_then_the_two_before_in_order():
    # An answer that compares with the last arrival keeps n-1 here; one that keeps the newest keeps n.
    updates = [ch02.UPDATE.pack(player, seq, 0.0, 0.0) for seq in range(5) for player in (1, 2)]
    sent = [ch02.UPDATE.unpack(u)[:2] for u in ch02._rotate_last(updates, 2)]
    assert sent[:4] == [(1, 0), (2, 0), (1, 1), (2, 1)]
    assert sent[4:] == [(1, 4), (1, 2), (1, 3), (2, 4), (2, 2), (2, 3)]
