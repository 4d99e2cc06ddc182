"""Known-good scores full marks, and the student copy scores zero, quietly (design §6 items 1 and 2).

For every chapter with a source in homework-source/, this runs what `make solutions` and `make student`
run: the solutions copy, executed top to bottom in a fresh kernel, then graded twice by the real grader
(one fresh kernel per question), and the student copy, run top to bottom and graded once. `assign`
itself refuses anything short of full marks twice alike, and anything but 0 and "not-attempted" for the
stubs; these tests assert the same again on the grader's own JSON, so that a check in `assign` that
stopped checking would show here.

Every chapter is built once per test run (a module-scoped fixture), two builds at a time.
"""

from __future__ import annotations

import copy
import multiprocessing
import re
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import nbformat
import psutil
import pytest

from sockcourse.homework import assign, grade

REPO = Path(__file__).resolve().parents[2]
SOURCES = assign.find_sources(REPO / "homework-source")
#: Builds at a time, each in its own process: their checks mostly wait on the network.
JOBS = 2


def by_chapter(paths):
    return pytest.mark.parametrize("path", paths, ids=[p.stem for p in paths])


def _build(kind: str, path: str, out: str):
    """One build in a worker process: its ChapterReport, or the AssignFailed it raised (both pickle whole)."""
    try:
        if kind == "solutions":
            return assign.build_solutions(path, out, runs=2)[0]
        if kind == "wrong":
            return assign.build_solutions(_crippled(path, out), out, runs=2)[0]
        return assign.build_student(path, out, validate=True)[0]
    except assign.AssignFailed as exc:
        return exc


def _crippled(path: str, out: str) -> str:
    """The source with its last question's solution replaced by `return None`, written into `out`."""
    notebook = nbformat.read(path, as_version=4)
    answers = [cell for cell in notebook.cells if cell.metadata.get("sockcourse", {}).get("role") == "answer"]
    cell = answers[-1]
    lines = cell.source.split("\n")
    begin = next(n for n, line in enumerate(lines) if line.strip().startswith("# BEGIN SOLUTION"))
    end = next(n for n, line in enumerate(lines) if line.strip() == "# END SOLUTION")
    indent = lines[begin][:len(lines[begin]) - len(lines[begin].lstrip())]
    cell.source = "\n".join(lines[:begin + 1] + [indent + "return None"] + lines[end:])
    Path(out).mkdir(parents=True, exist_ok=True)
    target = Path(out) / "source" / Path(path).name
    target.parent.mkdir()
    nbformat.write(notebook, target)
    return str(target)


@pytest.fixture(scope="module")
def builds(tmp_path_factory):
    """Every chapter's solutions and student builds, JOBS at a time, the longest first."""
    tasks = ([(kind, path) for kind in ("solutions", "student") for path in SOURCES]
             + [("wrong", SOURCES[0])])
    out = tmp_path_factory.mktemp("assign")
    # spawn: the test process runs threads, and a forked child could inherit one of their locks held.
    try:
        with ProcessPoolExecutor(max_workers=JOBS, mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = {(kind, path): pool.submit(_build, kind, str(path), str(out / f"{kind}-{path.stem}"))
                       for kind, path in tasks}
            results = {task: future.result(timeout=600) for task, future in futures.items()}
    finally:
        # The pool's resource tracker would outlive it, a child of this test process for the rest of the run.
        grade.stop_multiprocessing_helpers()
    return results


@pytest.fixture
def built(builds):
    def get(kind: str, path: Path):
        found = builds[(kind, path)]
        if isinstance(found, assign.AssignFailed):
            pytest.fail(f"assign refused the {kind} copy of {path.name}:\n" + "\n".join(found.problems),
                        pytrace=False)
        return found
    return get


def questions(path: Path) -> dict:
    return assign.load(path).questions


def outcome(record: dict) -> tuple:
    """What must not change between two gradings of one notebook: the score and every condition's outcome."""
    return (record.get("score"), record.get("max"), record.get("status"),
            [(c.get("id"), c.get("status", c.get("passed")), c.get("points")) for c in record.get("conditions") or []])


@by_chapter(SOURCES)
def test_the_solutions_earn_full_marks_twice_alike(built, path):
    report = built("solutions", path)
    expected = questions(path)
    assert len(report.gradings) == 2
    for run, grading in enumerate(report.gradings, start=1):
        found = grading["questions"]
        assert set(found) == set(expected), f"run {run} graded {sorted(found)}, not {sorted(expected)}"
        for qid, record in found.items():
            assert (record["status"], record["result_status"]) == ("graded", "passed"), f"run {run}, {qid}: {record}"
            assert record["max"] > 0 and record["score"] == record["max"], f"run {run}, {qid}: {record}"
            assert not record["killed"] and not record["problems"], f"run {run}, {qid}: {record}"
        assert grading["total"] == grading["max"] == sum(r["max"] for r in found.values())
        assert grading["status"] == "ok" and not grading["problems"] and not grading["killed"]
    first, second = ({q: outcome(r) for q, r in g["questions"].items()} for g in report.gradings)
    assert first == second


@by_chapter(SOURCES)
def test_the_solutions_copy_is_written_executed(built, path):
    report = built("solutions", path)
    notebook = nbformat.read(report.solutions, as_version=4)
    text = "\n".join(cell.source for cell in notebook.cells)
    assert "BEGIN SOLUTION" not in text and "END SOLUTION" not in text and "NotImplementedError(\"q" not in text
    checks = [c for c in notebook.cells if c.metadata.get("sockcourse", {}).get("role") == "check"]
    assert checks and all(c.outputs and c.execution_count for c in checks), "a check cell has no output"
    assert not any(o.get("output_type") == "error" for c in notebook.cells if c.cell_type == "code"
                   for o in c.outputs)


@by_chapter(SOURCES)
def test_the_student_copy_scores_zero_quietly(built, path):
    report = built("student", path)
    grading = report.student_grading
    expected = questions(path)
    assert set(grading["questions"]) == set(expected)
    for qid, record in grading["questions"].items():
        assert record["score"] == 0 and record["max"] > 0, f"{qid}: {record}"
        assert (record["status"], record["result_status"]) == ("not-attempted", "not-attempted"), f"{qid}: {record}"
        assert not record["killed"], f"{qid}: grading the stub killed leftovers: {record['killed']}"
        assert not record["problems"] and not record.get("notes"), f"{qid}: {record}"
        # A stub raises at once: no condition runs, and the question costs little more than its kernel.
        assert record.get("conditions") == [] and record["check_seconds"] < 1.0, f"{qid}: {record}"
        assert record["seconds"] < 30, f"{qid} took {record['seconds']} s for a stub"
    # The grader may list each question it did not grade among the problems; for a stub there is nothing else.
    assert set(grading["problems"]) <= {f"{q} not-attempted" for q in expected}, grading["problems"]
    assert grading["total"] == 0 and not grading["killed"]


# -- each of those checks can fail -----------------------------------------------------------------------
def test_a_wrong_solution_fails_the_build_naming_the_question(builds):
    # The last question's solution became `return None`: assign must refuse it, by notebook and question.
    found = builds[("wrong", SOURCES[0])]
    assert isinstance(found, assign.AssignFailed), "a solution returning None passed as full marks"
    last = list(questions(SOURCES[0]))[-1]
    # Not always 0 points: a condition may pass for None too (chapter 00's "the descriptors are still open").
    said = re.compile(rf"{re.escape(SOURCES[0].name)} \(graded, run 1 of 2\): {last} scored (\d+) of (\d+)")
    assert any((m := said.search(p)) and int(m[1]) < int(m[2]) and "full marks" in p
               for p in found.problems), found.problems
    assert not any(f": {q} scored" in p for p in found.problems for q in list(questions(SOURCES[0]))[:-1]), \
        found.problems


@by_chapter(SOURCES)
def test_the_rules_refuse_each_others_gradings(built, path):
    # The student copy's grading is no full marks, and the solutions' grading is no quiet zero.
    source = assign.load(path)
    student = built("student", path).student_grading
    solutions = built("solutions", path).gradings[0]
    assert assign._full_marks_problems(solutions, source, "x") == []
    assert assign._not_attempted_problems(student, source, "x") == []
    refused = assign._full_marks_problems(student, source, "x")
    assert all(any(f"x: {q} scored 0 of" in p for p in refused) for q in source.questions), refused
    refused = assign._not_attempted_problems(solutions, source, "x")
    assert all(any(f"x: {q} scored" in p and "not-attempted" in p for p in refused) for q in source.questions)


@by_chapter(SOURCES)
def test_a_grading_that_differs_is_told_apart(built, path):
    report = built("solutions", path)
    first, second = report.gradings
    assert assign._fingerprint(first) == assign._fingerprint(second)
    changed = copy.deepcopy(second)
    qid = next(iter(changed["questions"]))
    changed["questions"][qid]["conditions"][-1]["status"] = "skipped"
    assert assign._fingerprint(first) != assign._fingerprint(changed)


def test_the_builds_leave_no_process_behind(builds):
    """Last in this file on purpose: after the pool, no child of this process is left (the tests after it count them)."""
    assert psutil.Process().children(recursive=True) == []
