"""The check framework itself: it never raises into a cell, stops everything it starts, and reports plainly."""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time

import psutil
import pytest

import sockcourse
from sockcourse.homework import ch01, core
from sockcourse.homework.core import Question, failed, passed, skipped

from .solutions import ch01 as good


def _fds() -> int:
    return psutil.Process().num_fds()


def test_solution_scores_full_marks_and_the_result_is_plain_data():
    result = ch01.q1(good.read_frames)
    assert (result.status, result.score, result.max) == ("passed", 6, 6)
    data = json.loads(json.dumps(result.to_dict()))  # plain data, all the way down
    assert [c["id"] for c in data["conditions"]] == [c.id for c in ch01.q1.conditions if not c.graded_only]
    assert "✔ q1 read_frames · 6 of 6 conditions passed" in result.text()
    assert "plus 3 more" in result.text()  # the graded-only conditions are named, not hidden
    result.assert_passed()


def test_graded_run_adds_the_hidden_conditions_and_other_sizes():
    public, graded = ch01.q1.run(good.read_frames), ch01.q1.run(good.read_frames, graded=True)
    assert graded.max == ch01.q1.max_points(graded=True) > public.max
    assert graded.status == "passed" and graded.seed == 1 and public.seed == 0


def test_the_stub_is_not_attempted_quietly():
    def read_frames(sock):
        raise NotImplementedError("q1: write read_frames")
    before = set(threading.enumerate())
    result = ch01.q1(read_frames)
    assert result.status == "not-attempted" and result.score == 0
    assert result.text().startswith("· q1 read_frames · not attempted yet")
    assert "✘" not in result.text()
    assert sockcourse.running() == []
    assert set(threading.enumerate()) <= before | {t for t in threading.enumerate() if t.name.startswith("homework-")}


def test_a_handler_stub_is_not_attempted_too():
    def kv_handler(conn):
        raise NotImplementedError("q2: write kv_handler")
    result = ch01.q2(kv_handler)
    assert result.status == "not-attempted", result.text()
    assert sockcourse.running() == []


@pytest.mark.parametrize("given, words", [
    (None, "with the name and no parentheses"),
    (3, "got 3 (of type int)"),
    ("read_frames", "pass the name without calling it"),
])
def test_the_wrong_kind_of_object_gets_a_sentence(given, words):
    result = ch01.q1(given)
    assert result.status == "wrong-type" and result.score == 0
    assert words in result.text()


def test_a_generator_instead_of_the_function_is_named():
    result = ch01.q1(good.read_frames(socket.socket()))
    assert result.status == "wrong-type" and "of type generator" in result.text()


def test_recording_mode_runs_nothing_and_notes_the_object():
    core.start_recording()
    try:
        assert ch01.q1(good.read_frames) is None
        assert ch01.summary({"read_frames": good.read_frames}) is None
        assert core.recorded() == {"q1": good.read_frames}
        assert ch01.q1.run(good.read_frames, only="plain").status == "passed"  # the grader's own call runs
    finally:
        core.stop_recording()
    assert core.recorded() == {}


def test_a_blocked_answer_is_woken_and_reported_within_its_budget():
    question = Question("99_test", "q3", answer="wait", title="test")
    question.hint("h", "a hint")
    for name in ("one", "two", "three"):
        @question.condition(name, f"condition {name}", budget=0.5)
        def _(student, ctx):
            peer, mine = ctx.pair()  # the peer never sends, never closes
            outcome = ctx.call(student, mine)
            return passed() if outcome.returned else failed(outcome.text(), hint="h")

    def wait(sock):
        return sock.recv(1)  # the check's shutdown() is what wakes it

    started = time.monotonic()
    result = question(wait)
    took = time.monotonic() - started
    assert [c.status for c in result.conditions] == ["failed", "failed", "not-run"], result.text()
    assert "two conditions already ran out of time" in result.conditions[2].message
    assert "line" in result.conditions[0].message and "sock.recv(1)" in result.conditions[0].message
    assert took < 2 * (0.5 + core.WAKE_GRACE) + 1.0, took
    assert sockcourse.running() == []


def test_a_body_too_long_is_waited_for_only_as_long_as_the_condition_allows():
    def read_frames(sock):
        while sock.recv(65536):  # reads until the end, which the peer never sends
            pass
        yield from ()
    started = time.monotonic()
    result = ch01.q1.run(read_frames, only="too-long")
    assert time.monotonic() - started < 1.0 + core.WAKE_GRACE + 1.0
    assert result.hint_ids() == ["ch01.q1.check-first"], result.text()


def test_keyboard_interrupt_still_stops_the_cell():
    def read_frames(sock):
        os.kill(os.getpid(), signal.SIGINT)  # as the notebook's stop button does
        time.sleep(2)
        yield from ()
    with pytest.raises(KeyboardInterrupt):
        ch01.q1.run(read_frames, only="plain")
    assert sockcourse.running() == []


def test_student_exceptions_never_escape_the_check():
    def read_frames(sock):
        raise SystemExit("bye")
        yield  # noqa: unreachable - makes it a generator
    result = ch01.q1(read_frames)
    assert result.status == "failed" and result.score == 0


def test_a_bug_in_a_check_is_reported_as_the_course_s_not_the_student_s():
    question = Question("99_test", "q1", answer="f", title="test")
    question.hint("h", "a hint")

    @question.condition("broken", "a condition with a bug")
    def _(student, ctx):
        return {}["missing"]

    @question.condition("fine", "a condition that works")
    def _(student, ctx):
        return passed()

    result = question(lambda: None)
    assert [c.status for c in result.conditions] == ["error", "passed"]
    assert "bug in sockcourse" in result.text()


def test_skipped_conditions_count_for_nobody():
    question = Question("99_test", "q2", answer="f", title="test")
    question.hint("h", "a hint")

    @question.condition("here", "runs")
    def _(student, ctx):
        return passed()

    @question.condition("elsewhere", "cannot run here")
    def _(student, ctx):
        return skipped("this machine has no such thing")

    @question.condition("wrong", "fails")
    def _(student, ctx):
        return failed("it went wrong", hint="h", sent=b"x" * 500, expected=1, got=2)

    result = question(lambda: None)
    assert (result.score, result.max) == (1, 2)
    assert "this machine has no such thing" in result.text()
    assert "... " in result.conditions[2].evidence["sent"]  # long bytes are cut in the middle


def test_replay_shows_what_crossed_the_link():
    result = ch01.q1.replay(good.read_frames, "chunk1")
    assert result.status == "passed"
    replay = result.conditions[0].evidence["replay"]
    assert "the link's record" in replay and "to_client" in replay


def test_leftovers_are_noted():
    def kv_handler(conn):
        threading.Thread(target=time.sleep, args=(1.5,), name="student-leftover", daemon=True).start()
        good.kv_handler(conn)
    result = ch01.q2.run(kv_handler, only="pipelined")
    assert result.status == "passed"
    assert any("student-leftover" in note for note in result.notes), result.notes


def test_conditions_repeat_with_their_seed():
    def read_frames(sock):
        yield from ()
    first, second = (ch01.q1.run(read_frames, only="plain") for _ in range(2))
    assert first.conditions[0].evidence == second.conditions[0].evidence
    other = ch01.q1.run(read_frames, only="plain", seed=7)
    assert other.conditions[0].evidence != first.conditions[0].evidence


def test_checks_twice_in_one_process_leave_nothing_behind():
    ch01.q1(good.read_frames), ch01.q2(good.kv_handler)
    threads, fds = set(threading.enumerate()), _fds()
    for _ in range(2):
        ch01.q1(good.read_frames)
        ch01.q2(good.kv_handler)
        ch01.q3.run(good.upload, only=["small", "delay"])
    time.sleep(0.2)
    assert sockcourse.running() == []
    assert {t for t in threading.enumerate() if t.is_alive()} <= threads
    assert _fds() <= fds


def test_summary_checks_by_name_and_says_what_is_missing():
    shown = ch01.summary({"read_frames": good.read_frames, "upload": good.upload}).text()
    assert "q1 read_frames: 6/6 points" in shown
    assert "no kv_handler in this notebook yet" in shown
    assert "Save the notebook" in shown


def test_an_unknown_condition_is_a_sentence():
    result = ch01.q1.replay(good.read_frames, "nope")
    assert result.status == "error" and "has no condition 'nope'" in result.text()
