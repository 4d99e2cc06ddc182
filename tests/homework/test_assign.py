"""`assign` is strict and stable (design §6 item 9): bad markers are refused by cell and line, no solution
line reaches the student copy, stubs keep their indentation, outputs go, and the committed copies are fresh.

Every broken source here is made in the test from the real homework-source/01_tcp.ipynb, with nbformat,
never from hand-edited JSON, so the fixtures follow the source as it changes. None of these tests starts
a kernel: the runs and the gradings are in test_solutions.py.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import nbformat
import pytest

from sockcourse import cli
from sockcourse.cli import assign as assign_cli
from sockcourse.homework import assign

REPO = Path(__file__).resolve().parents[2]
SOURCES = REPO / "homework-source"
STUDENT = REPO / "notebooks" / "homework"
SOURCE = SOURCES / "01_tcp.ipynb"


# -- helpers ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def pristine():
    return nbformat.read(SOURCE, as_version=4)


@pytest.fixture
def nb(pristine):
    """A fresh copy of the real source, for one test to break."""
    return copy.deepcopy(pristine)


def index_of(notebook, role: str, question: str | None = None) -> int:
    for index, cell in enumerate(notebook.cells):
        meta = cell.metadata.get("sockcourse", {})
        if meta.get("role") == role and (question is None or meta.get("question") == question):
            return index
    raise AssertionError(f"the source has no {role} cell for {question}")


def lines_of(notebook, index: int) -> list[str]:
    return notebook.cells[index].source.split("\n")


def set_lines(notebook, index: int, lines: list[str]) -> None:
    notebook.cells[index].source = "\n".join(lines)


def marker_line(notebook, index: int, word: str) -> int:
    return next(n for n, line in enumerate(lines_of(notebook, index)) if line.strip().startswith(f"# {word} SOLUTION"))


def save(notebook, folder: Path, name: str = "01_tcp.ipynb") -> Path:
    path = folder / name
    nbformat.write(notebook, path)
    return path


def problems_of(notebook, folder: Path) -> list[str]:
    return assign.lint(save(notebook, folder), name="src/01_tcp.ipynb")


def assert_one_problem_at(problems: list[str], notebook, index: int, line: int | None, words: str) -> None:
    assert problems, "the broken source passed the lint"
    cell = f"src/01_tcp.ipynb, cell {index + 1} of {len(notebook.cells)}"
    hits = [p for p in problems if p.startswith(cell) and re.search(words, p)]
    assert hits, f"no problem at {cell} saying {words!r} among:\n" + "\n".join(problems)
    if line is not None:
        assert any(f", line {line + 1}:" in p for p in hits), f"the line {line + 1} is not named:\n" + "\n".join(hits)


# -- the real sources ------------------------------------------------------------------------------
@pytest.mark.parametrize("path", assign.find_sources(SOURCES) if SOURCES.is_dir() else [], ids=lambda p: p.stem)
def test_every_source_is_clean(path):
    source = assign.load(path)
    assert assign.leaks(source, assign.student_copy(source)) == []


def test_committed_student_copies_equal_a_fresh_build(capsys):
    """`assign --check`: the committed notebooks/homework/ is what the sources build, byte for byte."""
    assert run_cli(["assign", str(SOURCES), "--student", str(STUDENT), "--check"]) == 0, capsys.readouterr().err


# -- the markers ------------------------------------------------------------------------------------
def test_an_unclosed_begin_is_named_by_cell_and_line(nb, tmp_path):
    answer = index_of(nb, "answer", "q1")
    lines = lines_of(nb, answer)
    begin = marker_line(nb, answer, "BEGIN")
    del lines[marker_line(nb, answer, "END")]
    set_lines(nb, answer, lines)
    assert_one_problem_at(problems_of(nb, tmp_path), nb, answer, begin, "no END SOLUTION")


def test_an_end_without_begin_is_named(nb, tmp_path):
    answer = index_of(nb, "answer", "q2")
    lines = lines_of(nb, answer)
    del lines[marker_line(nb, answer, "BEGIN")]
    set_lines(nb, answer, lines)
    end = marker_line(nb, answer, "END")
    assert_one_problem_at(problems_of(nb, tmp_path), nb, answer, end, "END SOLUTION with no BEGIN")


def test_nested_markers_are_refused(nb, tmp_path):
    answer = index_of(nb, "answer", "q1")
    lines = lines_of(nb, answer)
    begin = marker_line(nb, answer, "BEGIN")
    indent = re.match(r"\s*", lines[begin])[0]
    lines.insert(begin + 2, f"{indent}# BEGIN SOLUTION")
    set_lines(nb, answer, lines)
    assert_one_problem_at(problems_of(nb, tmp_path), nb, answer, begin + 2, "cannot nest")


def test_two_regions_in_one_answer_cell_are_refused(nb, tmp_path):
    answer = index_of(nb, "answer", "q1")
    lines = lines_of(nb, answer)
    lines += ["", "def helper():", "    # BEGIN SOLUTION", "    return 1", "    # END SOLUTION"]
    set_lines(nb, answer, lines)
    assert_one_problem_at(problems_of(nb, tmp_path), nb, answer, None, "exactly one solution region.*holds 2")


@pytest.mark.parametrize("role", ["setup", "question", "check", "intro"])
def test_a_marker_outside_an_answer_cell_is_refused(nb, tmp_path, role):
    index = index_of(nb, role, "q1" if role in ("question", "check") else None)
    lines = lines_of(nb, index) + ["# BEGIN SOLUTION", "x = 1", "# END SOLUTION"]
    set_lines(nb, index, lines)
    problems = problems_of(nb, tmp_path)
    assert_one_problem_at(problems, nb, index, len(lines) - 3, "outside an answer cell")
    assert_one_problem_at(problems, nb, index, len(lines) - 1, "outside an answer cell")


@pytest.mark.parametrize("spelling", ["### BEGIN SOLUTION", "#BEGIN SOLUTION", "# begin solution",
                                      "x = 0  # BEGIN SOLUTION"])
def test_a_misspelt_marker_is_refused(nb, tmp_path, spelling):
    answer = index_of(nb, "answer", "q1")
    lines = lines_of(nb, answer)
    begin = marker_line(nb, answer, "BEGIN")
    indent = re.match(r"\s*", lines[begin])[0]
    lines[begin] = indent + spelling
    set_lines(nb, answer, lines)
    assert_one_problem_at(problems_of(nb, tmp_path), nb, answer, begin, "not a marker")


def test_an_end_indented_unlike_its_begin_is_refused(nb, tmp_path):
    answer = index_of(nb, "answer", "q1")
    lines = lines_of(nb, answer)
    end = marker_line(nb, answer, "END")
    lines[end] = "        " + lines[end]
    set_lines(nb, answer, lines)
    assert_one_problem_at(problems_of(nb, tmp_path), nb, answer, end, "indented differently")


def test_a_region_outside_any_function_is_refused(nb, tmp_path):
    # Its stub would raise as soon as the student runs the cell.
    answer = index_of(nb, "answer", "q1")
    lines = [line for line in lines_of(nb, answer) if "SOLUTION" not in line]
    lines += ["", "# BEGIN SOLUTION", "LIMIT = 10", "# END SOLUTION"]
    set_lines(nb, answer, lines)
    assert_one_problem_at(problems_of(nb, tmp_path), nb, answer, len(lines) - 3, "not inside a function")


# -- the cells against the chapter's module ---------------------------------------------------------------
def test_a_check_cell_for_another_question_is_refused(nb, tmp_path):
    check = index_of(nb, "check", "q1")
    nb.cells[check].source = "check.q2(read_frames)"
    assert_one_problem_at(problems_of(nb, tmp_path), nb, check, None, r"exactly 'check\.q1\(read_frames\)'")


def test_a_check_cell_with_more_code_is_refused(nb, tmp_path):
    check = index_of(nb, "check", "q1")
    nb.cells[check].source = "result = check.q1(read_frames)\nresult"
    assert_one_problem_at(problems_of(nb, tmp_path), nb, check, None, "must be exactly")


def test_a_missing_check_cell_is_named(nb, tmp_path):
    del nb.cells[index_of(nb, "check", "q2")]
    problems = problems_of(nb, tmp_path)
    assert any("q2" in p and "no check cell" in p for p in problems), problems


def test_a_question_the_module_does_not_define_is_refused(nb, tmp_path):
    for cell in nb.cells:
        if cell.metadata["sockcourse"].get("question") == "q3":
            cell.metadata["sockcourse"]["question"] = "q9"
    problems = problems_of(nb, tmp_path)
    assert any("'q9'" in p and "does not define" in p for p in problems), problems
    assert any("q3" in p and "no question and no answer and no check cell" in p for p in problems), problems


def test_a_cell_without_a_role_is_named(nb, tmp_path):
    index = index_of(nb, "setup")
    nb.cells[index].metadata.pop("sockcourse")
    assert_one_problem_at(problems_of(nb, tmp_path), nb, index, None, "sockcourse.role")


def test_a_heading_that_does_not_match_the_question_is_refused(nb, tmp_path):
    index = index_of(nb, "question", "q2")
    lines = lines_of(nb, index)
    first = next(n for n, line in enumerate(lines) if line.strip())
    lines[first] = "### q1 · " + lines[first].partition("·")[2].strip()
    set_lines(nb, index, lines)
    assert_one_problem_at(problems_of(nb, tmp_path), nb, index, first, "heading")


def test_a_setup_importing_another_chapter_is_refused(nb, tmp_path):
    index = index_of(nb, "setup")
    nb.cells[index].source = nb.cells[index].source.replace("import ch01 as check", "import ch02 as check")
    assert_one_problem_at(problems_of(nb, tmp_path), nb, index, None, "import ch01 as check")


def test_every_problem_is_reported_at_once(nb, tmp_path):
    # Two unrelated mistakes: both are named, so one run of assign shows the author all there is to fix.
    q1, q3 = index_of(nb, "answer", "q1"), index_of(nb, "check", "q3")
    lines = lines_of(nb, q1)
    del lines[marker_line(nb, q1, "END")]
    set_lines(nb, q1, lines)
    nb.cells[q3].source = "check.q3()"
    problems = problems_of(nb, tmp_path)
    assert_one_problem_at(problems, nb, q1, None, "no END SOLUTION")
    assert_one_problem_at(problems, nb, q3, None, "must be exactly")


# -- the leak scan ---------------------------------------------------------------------------------------
def solution_lines(notebook, index: int) -> list[str]:
    lines = lines_of(notebook, index)
    return lines[marker_line(notebook, index, "BEGIN") + 1:marker_line(notebook, index, "END")]


def telling_line(notebook, question: str) -> str:
    """A line of the question's solution that names something (not a bare `break` or `)`)."""
    candidates = [line for line in solution_lines(notebook, index_of(notebook, "answer", question))
                  if re.search(r"[A-Za-z_]\w*\(", line)]
    assert candidates, f"{question}'s solution has no line that calls anything"
    return max(candidates, key=len)


@pytest.mark.parametrize("place", ["question", "setup", "answer"])
def test_the_leak_scan_catches_a_solution_line_pasted_outside_its_markers(nb, tmp_path, place):
    line = telling_line(nb, "q1")
    if place == "answer":
        # Into the code around q1's own region, below its END marker: the easiest leak to make.
        index = index_of(nb, "answer", "q1")
        lines = lines_of(nb, index)
        end = marker_line(nb, index, "END")
        # Indented like the code around it (so the cell stays valid Python), not as in the solution.
        lines.insert(end + 1, re.match(r"\s*", lines[end])[0] + line.strip())
        set_lines(nb, index, lines)
    elif place == "question":
        index = index_of(nb, "question", "q1")
        nb.cells[index].source += "\n\n```python\n" + line + "\n```"
    else:
        index = index_of(nb, "setup")
        nb.cells[index].source += "\n" + line.strip()
    source = assign.load(save(nb, tmp_path), name="src/01_tcp.ipynb")
    found = assign.leaks(source, assign.student_copy(source))
    assert_one_problem_at(found, nb, index, None, "a line of the solution")
    with pytest.raises(assign.AssignFailed) as caught:
        assign.build_student(save(nb, tmp_path), tmp_path / "out", validate=False)
    assert any("a line of the solution" in p for p in caught.value.problems)
    assert not (tmp_path / "out").exists(), "a leaking copy was written"


def test_the_leak_scan_catches_an_output_left_in_the_copy(nb, tmp_path):
    source = assign.load(save(nb, tmp_path), name="src/01_tcp.ipynb")
    student = assign.student_copy(source)
    setup = index_of(nb, "setup")
    student.cells[setup].outputs = [nbformat.v4.new_output("stream", name="stdout", text="✔ q1 6/6\n")]
    assert_one_problem_at(assign.leaks(source, student), nb, setup, None, "output")


def test_the_leak_scan_ignores_lines_that_say_nothing():
    assert not assign._telling("        break")
    assert not assign._telling("    )")
    assert not assign._telling("return None")
    assert not assign._telling("#")
    assert assign._telling("return frames")
    assert assign._telling('raise ValueError("too long")')


# -- the student copy ---------------------------------------------------------------------------------------
def test_stubs_keep_the_markers_indentation(nb, tmp_path):
    # A deeper region, with a prompt, next to the source's own ones.
    answer = index_of(nb, "answer", "q1")
    lines = lines_of(nb, answer)
    begin, end = marker_line(nb, answer, "BEGIN"), marker_line(nb, answer, "END")
    indent = re.match(r"\s*", lines[begin])[0]
    body = [indent + "    " + line[len(indent):] if line.strip() else line for line in lines[begin + 1:end]]
    lines[begin:end + 1] = ([f"{indent}if True:", f"{indent}    # BEGIN SOLUTION: read the whole header first"]
                            + body + [f"{indent}    # END SOLUTION"])
    set_lines(nb, answer, lines)
    source = assign.load(save(nb, tmp_path))
    student = assign.student_copy(source)
    checked = 0
    for cell in source.cells:
        if cell.role != "answer":
            continue
        question = source.questions[cell.question]
        region = cell.regions[0]
        out = student.cells[cell.index].source.split("\n")
        # The answer's name, or the top-level function or class the region sits in, if it is another.
        tops = [re.match(r"(?:async\s+)?(?:def|class)\s+(\w+)", line) for line in cell.lines[:region.begin]]
        name = next((m[1] for m in reversed(tops) if m), question.answer)
        stub = f'raise NotImplementedError("{question.id}: write {name}")'
        assert out[:region.begin] == cell.lines[:region.begin]
        if region.prompt:
            assert out[region.begin] == f"{region.indent}# TODO: {region.prompt}"
            assert out[region.begin + 1] == region.indent + stub
            rest = out[region.begin + 2:]
        else:
            assert out[region.begin] == region.indent + stub
            rest = out[region.begin + 1:]
        assert rest == cell.lines[region.end + 1:]
        compile(student.cells[cell.index].source, f"cell {cell.index}", "exec")
        checked += 1
    assert checked >= len(source.questions)
    assert any(f"{indent}    # TODO: read the whole header first" == line
               for line in student.cells[answer].source.split("\n"))


def test_a_helper_in_its_own_answer_cell_gets_its_own_stub(nb, tmp_path):
    answer = index_of(nb, "answer", "q1")
    nb.cells.insert(answer, nbformat.v4.new_code_cell(
        "def frame_size(header):\n    # BEGIN SOLUTION\n    return struct.unpack('!BI', header)[1]\n    # END SOLUTION",
        metadata={"sockcourse": {"role": "answer", "question": "q1"}}))
    student = assign.student_copy(assign.load(save(nb, tmp_path)))
    assert student.cells[answer].source.split("\n")[1] == '    raise NotImplementedError("q1: write frame_size")'
    assert 'raise NotImplementedError("q1: write read_frames")' in student.cells[answer + 1].source


def test_the_solutions_copy_only_loses_the_marker_lines(nb, tmp_path):
    source = assign.load(save(nb, tmp_path))
    solutions = assign.solutions_copy(source)
    for cell in source.cells:
        got = solutions.cells[cell.index].source.split("\n")
        if cell.role == "answer":
            region = cell.regions[0]
            assert got == [line for n, line in enumerate(cell.lines) if n not in (region.begin, region.end)]
        else:
            assert got == cell.lines
        assert "SOLUTION" not in solutions.cells[cell.index].source


def test_the_student_copy_has_no_outputs_and_no_state(nb, tmp_path):
    # Give the source everything that must not reach a student: outputs, counts, widgets, timings.
    for number, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            cell.execution_count = number + 1
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="✔ q1 6/6\n"),
                            nbformat.v4.new_output("execute_result", data={"text/plain": "42"},
                                                   execution_count=number + 1)]
        cell.metadata["ExecuteTime"] = {"end_time": "2026-01-01T00:00:00Z"}
        cell.metadata["collapsed"] = True
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    nb.metadata["language_info"] = {"name": "python", "version": "3.99.1"}
    source = assign.load(save(nb, tmp_path))
    student = assign.student_copy(source)
    text = assign.render(student)
    for cell in student.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None
        assert set(cell.metadata) <= {"sockcourse", "tags", "editable", "deletable"}
        locked = cell.metadata["sockcourse"]["role"] in ("intro", "setup", "question", "check", "summary")
        assert (cell.metadata.get("editable"), cell.metadata.get("deletable")) == ((False, False) if locked
                                                                                   else (None, None))
    assert "widgets" not in student.metadata and "3.99.1" not in text and "2026-01-01" not in text
    assert student.metadata["kernelspec"]["name"] == "python3"
    home = student.metadata["sockcourse"]["homework"]
    assert home == {"chapter": "01_tcp", "source_sha256": source.sha256}
    assert re.fullmatch(r"[0-9a-f]{64}", home["source_sha256"])
    assert assign.leaks(source, student) == []
    nbformat.validate(nbformat.reads(text, as_version=4))


def test_running_the_source_does_not_change_its_student_copy(nb, tmp_path):
    def build() -> str:
        return assign.render(assign.student_copy(assign.load(save(nb, tmp_path))))

    plain = build()
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.execution_count = 7
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="ran\n")]
    assert build() == plain
    # An edited cell is another source, and the copy says so.
    nb.cells[index_of(nb, "question", "q1")].source += "\n\nOne more sentence."
    sha = json.loads(build())["metadata"]["sockcourse"]["homework"]["source_sha256"]
    assert sha != json.loads(plain)["metadata"]["sockcourse"]["homework"]["source_sha256"]


def test_rendering_is_deterministic(nb, tmp_path):
    path = save(nb, tmp_path)
    first, second = (assign.render(assign.student_copy(assign.load(path))) for _ in range(2))
    assert first == second and first.endswith("}\n") and not first.endswith("\n\n")
    assert json.loads(first) == json.loads(json.dumps(json.loads(first), sort_keys=True))
    assert list(json.loads(first)) == sorted(json.loads(first))
    # Cell ids come from the source, never drawn at random: a build is the same on every machine.
    ids = [cell["id"] for cell in json.loads(first)["cells"]]
    assert ids == [cell.get("id", f"cell-{n + 1}") for n, cell in enumerate(nb.cells)]


# -- the command line --------------------------------------------------------------------------------------
def run_cli(argv: list[str]) -> int:
    assert assign_cli.add_parser in cli.SUBCOMMANDS, "sockcourse.cli does not register the assign command"
    return cli.main(argv)


def test_the_cli_builds_then_check_passes_then_fails_on_drift(nb, tmp_path, capsys):
    sources = tmp_path / "src"
    sources.mkdir()
    save(nb, sources)
    out = tmp_path / "student"
    assert run_cli(["assign", str(sources), "--student", str(out), "--no-validate"]) == 0
    written = out / "01_tcp.ipynb"
    text = written.read_text(encoding="utf-8")
    assert "BEGIN SOLUTION" not in text and text.endswith("\n")
    assert not (tmp_path / "build").exists()  # --student alone builds no solutions
    assert run_cli(["assign", str(sources), "--student", str(out), "--check"]) == 0
    capsys.readouterr()
    # A student copy edited by hand (say, a fixed typo) is drift: the source is the one to edit.
    copy_nb = nbformat.read(written, as_version=4)
    copy_nb.cells[0].source += " Fixed a typo."
    nbformat.write(copy_nb, written)
    before = written.read_text(encoding="utf-8")
    assert run_cli(["assign", str(sources), "--student", str(out), "--check"]) == 1
    err = capsys.readouterr().err
    assert "01_tcp.ipynb differs from a fresh build" in err and "make student" in err
    assert written.read_text(encoding="utf-8") == before, "--check wrote"
    # A copy with no source, and a source with no copy, are named too.
    (out / "09_extra.ipynb").write_text(text, encoding="utf-8")
    written.unlink()
    assert run_cli(["assign", str(sources), "--student", str(out), "--check"]) == 1
    err = capsys.readouterr().err
    assert "01_tcp.ipynb is missing" in err and "09_extra.ipynb has no source" in err


def test_the_cli_names_a_broken_source_and_writes_nothing(nb, tmp_path, capsys):
    sources = tmp_path / "src"
    sources.mkdir()
    answer = index_of(nb, "answer", "q1")
    lines = lines_of(nb, answer)
    del lines[marker_line(nb, answer, "END")]
    set_lines(nb, answer, lines)
    save(nb, sources)
    assert run_cli(["assign", str(sources), "--student", str(tmp_path / "out"), "--no-validate"]) == 1
    err = capsys.readouterr().err
    assert f"01_tcp.ipynb, cell {answer + 1} of {len(nb.cells)} (q1 answer), line" in err
    assert not (tmp_path / "out").exists()


def test_the_cli_refuses_a_missing_source_in_one_line(tmp_path, capsys):
    assert run_cli(["assign", str(tmp_path / "nowhere.ipynb"), "--student", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no homework source" in err
    assert run_cli(["assign", str(tmp_path), "--student", str(tmp_path)]) == 2
    assert "holds no homework source" in capsys.readouterr().err


def test_a_written_answer_becomes_a_blank_to_fill(nb, tmp_path):
    # A question answered in words, graded by a person: its model answer must not reach the students.
    before = index_of(nb, "question", "q3")
    nb.cells[before:before] = [
        nbformat.v4.new_markdown_cell("### q0 · In your own words\n\nWhy is `b\"\"` the end of a stream?",
                                      metadata={"sockcourse": {"role": "question", "question": "q0"}}),
        nbformat.v4.new_markdown_cell("Answer:\n\n<!-- BEGIN SOLUTION -->\nrecv() returns no bytes only once the "
                                      "peer has closed its sending side.\n<!-- END SOLUTION -->",
                                      metadata={"sockcourse": {"role": "written", "question": "q0"}}),
    ]
    source = assign.load(save(nb, tmp_path))
    student = assign.student_copy(source)
    assert student.cells[before + 1].source == "Answer:\n\n" + assign.WRITTEN_STUB
    assert "peer has closed its sending side" in assign.solutions_copy(source).cells[before + 1].source
    assert assign.leaks(source, student) == []
    # Left open, the region is named like a code one.
    nb.cells[before + 1].source = nb.cells[before + 1].source.replace("<!-- END SOLUTION -->", "")
    assert_one_problem_at(problems_of(nb, tmp_path), nb, before + 1, None, "exactly one region")
