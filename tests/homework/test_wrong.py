"""The checks are proved by wrong answers: each mistake fails where it should, with the hint that helps.

Every file in wrong/ holds one realistic mistake (`answer`) and says what the
graded check must make of it (`EXPECT`). Together, the mistakes of a question
must fail every one of its conditions and reach every one of its hints: a
condition that no mistake fails, or a hint nobody ever sees, checks nothing.
The files in solutions/ hold correct answers, which must earn full marks.
"""

from __future__ import annotations

import importlib.util
from collections import defaultdict
from pathlib import Path

import pytest

import sockcourse
from sockcourse import homework

HERE = Path(__file__).parent
WRONG = sorted((HERE / "wrong").glob("ch*_q*.py"))
SOLUTIONS = sorted((HERE / "solutions").glob("ch*.py"))


def load(path: Path):
    spec = importlib.util.spec_from_file_location(f"hw_{path.parent.name}_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def question_of(name: str):
    chapter, qid = name.split(".")
    return getattr(homework.chapter(chapter), qid)


#: What each wrong answer's graded run found, filled as the parametrized tests run.
FOUND: dict = defaultdict(lambda: {"failed": set(), "hints": set(), "skipped": set()})


@pytest.mark.parametrize("path", WRONG, ids=[p.stem for p in WRONG])
def test_wrong_answer_fails_where_it_should(path):
    wrong = load(path)
    question = question_of(wrong.QUESTION)
    expect = wrong.EXPECT
    only = expect.get("only") or (list(expect.get("fails", [])) + list(expect.get("passes", []))) or None
    result = question.run(wrong.answer, graded=True, only=only)
    report = result.text()
    if "status" in expect:
        assert result.status == expect["status"], report
        assert result.score == 0, report
        return
    failed = set(result.failed_ids())
    passed = {c.id for c in result.conditions if c.status == "passed"}
    skipped = {c.id for c in result.conditions if c.status == "skipped"}
    FOUND[wrong.QUESTION]["skipped"] |= skipped
    if skipped & set(expect["fails"]):
        pytest.skip(f"this machine cannot run {sorted(skipped & set(expect['fails']))}: {report}")
    for condition in expect["fails"]:
        assert condition in failed, f"{path.stem} should fail {condition!r}:\n{report}"
    for condition in expect.get("passes", []):
        assert condition in passed, f"{path.stem} should pass {condition!r}:\n{report}"
    assert question.hint_id(expect["hint"]) in result.hint_ids(), f"{path.stem} should get {expect['hint']!r}:\n{report}"
    assert result.score < result.max
    assert "the check itself failed" not in report, report
    FOUND[wrong.QUESTION]["failed"] |= failed
    FOUND[wrong.QUESTION]["hints"] |= {h.rsplit(".", 1)[1] for h in result.hint_ids()}
    assert sockcourse.running() == [], f"{path.stem} left {sockcourse.running()} running"


def _questions_with_wrong_answers() -> list[str]:
    return sorted({load(path).QUESTION for path in WRONG})


@pytest.mark.parametrize("name", _questions_with_wrong_answers())
def test_every_condition_and_hint_is_reached(name):
    """Run after the wrong answers above (pytest keeps file order): their findings, together, cover the question."""
    question = question_of(name)
    found = FOUND[name]
    if not found["failed"]:
        pytest.skip("the wrong answers of this question did not run in this session (run the whole file)")
    # A condition this machine cannot run (skipped with a sentence) cannot be failed here either.
    missing_conditions = [c.id for c in question.conditions if c.id not in found["failed"] | found["skipped"]]
    missing_hints = [h for h in question.hints if h not in found["hints"]]
    assert not missing_conditions, f"{name}: no wrong answer fails {missing_conditions}"
    assert not missing_hints, f"{name}: no wrong answer reaches the hints {missing_hints}"


def test_every_chapter_with_questions_has_wrong_answers():
    covered = set(_questions_with_wrong_answers())
    for chapter in homework.available():
        for question in homework.chapter(chapter).QUESTIONS:
            assert f"{chapter}.{question.id}" in covered, f"{chapter} {question.id} has no wrong answers in wrong/"


@pytest.mark.parametrize("path", SOLUTIONS, ids=[p.stem for p in SOLUTIONS])
def test_solutions_earn_full_marks(path):
    answers = load(path)
    module = homework.chapter(path.stem[2:])
    for question in module.QUESTIONS:
        result = question.run(getattr(answers, question.answer), graded=True)
        assert result.status == "passed" and result.score == result.max, result.text()
        assert not [n for n in result.notes if "left" in n or "never closed" in n], result.text()
    assert sockcourse.running() == []
