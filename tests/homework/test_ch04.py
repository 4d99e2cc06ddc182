"""Chapter 04's checks beyond the wrong answers: they can run twice, they fit their time, they scale down.

The wrong answers (tests/homework/test_wrong.py) prove that every condition
can fail; these tests prove the rest of the contract: a check leaves nothing
behind in the student's kernel (no server, no thread, no descriptor), a
correct answer is checked within the time the grader allows, and a machine
whose descriptor limit is too low for a thousand clients gets fewer clients,
or a skip, with a sentence, never a failure.
"""

from __future__ import annotations

import gc
import importlib.util
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import nbformat
import pytest

import sockcourse
from sockcourse.homework import ch04

HERE = Path(__file__).parent
ROOT = HERE.parents[1]
SOLUTIONS = HERE / "solutions" / "ch04.py"
SOURCE = ROOT / "homework-source" / "04_async.ipynb"


def _solutions():
    spec = importlib.util.spec_from_file_location("hw_solutions_ch04_for_test", SOLUTIONS)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _open_fds() -> int | None:
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return None


def _settled(before_threads: set, seconds: float = 3.0) -> list:
    """The threads that are still alive and were not there before, after waiting a little for them to end."""
    deadline = time.monotonic() + seconds
    while True:
        extra = [t for t in threading.enumerate() if t not in before_threads and t.is_alive()]
        if not extra or time.monotonic() > deadline:
            return extra
        time.sleep(0.05)


def test_every_check_twice_in_time_leaving_nothing_behind():
    """Each question checked twice in one process, public then graded, as a student and the grader would."""
    answers = _solutions()
    gc.collect()
    threads, fds = set(threading.enumerate()), _open_fds()
    for question in ch04.QUESTIONS:
        answer = getattr(answers, question.answer)
        for graded, limit in ((False, 8.0), (True, 10.0)):
            started = time.monotonic()
            result = question.run(answer, graded=graded)
            seconds = time.monotonic() - started
            assert result.status == "passed", result.text()
            assert not result.notes, result.text()
            # The brief: about 8 s for a public check, 10 s for a graded one. Each condition here also
            # pays for a gc.collect() of pytest's large heap (about 0.3 s), hence the slack.
            slack = 0.4 * len(result.conditions)
            assert seconds < limit + slack, f"{question.id} (graded={graded}) took {seconds:.1f} s"
    gc.collect()
    assert sockcourse.running() == []
    assert _settled(threads) == []
    if fds is not None:
        assert _open_fds() == fds, "the checks left descriptors open"


def test_the_stub_of_each_question_is_not_attempted_at_once():
    class Reader:
        def __init__(self, sock):
            self.sock = sock

        def readline(self, timeout):
            raise NotImplementedError("q1: write LineReader")

    def serve(listener, stop):
        raise NotImplementedError("q2: write serve_shout")

    class Room:
        def __init__(self):
            self.users = {}

        async def handle(self, reader, writer):
            raise NotImplementedError("q3: write ChatRoom")

    for question, stub in zip(ch04.QUESTIONS, (Reader, serve, Room)):
        started = time.monotonic()
        result = question.run(stub, graded=True)
        assert result.status == "not-attempted", result.text()
        assert time.monotonic() - started < 2.0
    assert sockcourse.running() == []


def test_the_solutions_are_the_source_notebooks():
    notebook = nbformat.read(SOURCE, as_version=4)
    written = SOLUTIONS.read_text()
    for cell in notebook.cells:
        if cell.metadata["sockcourse"]["role"] == "answer":
            code = "\n".join(line for line in cell.source.splitlines()
                             if "BEGIN SOLUTION" not in line and "END SOLUTION" not in line)
            assert code in written, f"tests/homework/solutions/ch04.py lacks the notebook's answer:\n{code[:300]}"


_LOW_LIMIT = """
import json, resource, sys
resource.setrlimit(resource.RLIMIT_NOFILE, ({limit}, {limit}))
sys.path.insert(0, {root!r})
import importlib.util
from sockcourse.homework import ch04
spec = importlib.util.spec_from_file_location("answers", {solutions!r})
answers = importlib.util.module_from_spec(spec)
spec.loader.exec_module(answers)
out = {{}}
for question in (ch04.q2, ch04.q3):
    result = question.run(getattr(answers, question.answer), only="thousand")
    condition = result.conditions[0]
    out[question.id] = {{"status": condition.status, "message": condition.message, "notes": result.notes}}
print(json.dumps(out))
"""


def _with_limit(limit: int) -> dict:
    code = _LOW_LIMIT.format(limit=limit, root=str(ROOT), solutions=str(SOLUTIONS))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="counts descriptors in /proc/self/fd")
def test_a_low_descriptor_limit_means_fewer_clients_with_a_sentence():
    for qid, found in _with_limit(700).items():
        assert found["status"] == "passed", (qid, found)
        assert any("descriptors" in note and "instead of 1,000" in note for note in found["notes"]), (qid, found)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="counts descriptors in /proc/self/fd")
def test_a_very_low_descriptor_limit_skips_with_a_sentence():
    for qid, found in _with_limit(300).items():
        assert found["status"] == "skipped", (qid, found)
        assert found["message"].startswith("this machine lets a process open too few descriptors"), (qid, found)


def test_a_wrong_shout_answer_is_named_by_its_symptom():
    """q2's report says what is wrong with an answer by what came back, not by the condition that saw it."""
    sent = b"client 3 says hello\nclient 3 says world\n"
    assert ch04._answers(sent) == b"1 CLIENT 3 SAYS HELLO\n2 CLIENT 3 SAYS WORLD\n"
    problem, hint = ch04._answer_problem(sent, b"7 CLIENT 3 SAYS HELLO\n8 CLIENT 3 SAYS WORLD\n")
    assert (problem, hint) == ("had its lines numbered 7, 8, not 1, 2", "numbering")
    for form in (b"1: CLIENT 3 SAYS HELLO\n2: CLIENT 3 SAYS WORLD\n", b"1 client 3 says hello\n2 client 3 says world\n",
                 b"1  CLIENT 3 SAYS HELLO\n2  CLIENT 3 SAYS WORLD\n"):
        assert ch04._answer_problem(sent, form)[1] == "format", form
    # One recv() taken for one line: the second answer has no number of its own.
    assert ch04._answer_problem(sent, b"1 CLIENT 3 SAYS HELLO\nCLIENT 3 SAYS WORLD\n")[1] == "line-buffer"
    assert ch04._answer_problem(sent, b"1 C\n2 L\n3 I\n")[1] == "line-buffer"
