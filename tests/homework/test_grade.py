"""The grader's contract: regions, dependencies, the CSV and JSON it writes, feedback, exit codes, --jobs.

The submissions are made in code from chapter 01's source notebook
(fixtures_grade), each changed in one way; one folder of them is graded once
through the command line with --jobs 2, and the tests read what it wrote.
The region and dependency tests need no kernel at all.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import re
import shutil

import nbformat
import pytest

from sockcourse.cli import grade as grade_cli
from sockcourse.cli.common import Parser, UsageError
from sockcourse.homework import ch01, grade

from . import fixtures_grade as F

#: Small limits: a correct chapter-01 question takes about 3 s (a kernel and its check).
LIMITS = ["--cell-timeout", "5", "--question-timeout", "40", "--notebook-timeout", "200"]
SEED = "7"
MAX = {"q1": ch01.q1.max_points(True), "q2": ch01.q2.max_points(True), "q3": ch01.q3.max_points(True)}
TOTAL = sum(MAX.values())


def cli(argv, capsys=None) -> int:
    """The `grade` and `check` subcommands under a parser of their own, as sockcourse.cli.main runs them."""
    parser = Parser(prog="sockcourse")
    subparsers = parser.add_subparsers(dest="command")
    grade_cli.add_grade_parser(subparsers, "sockcourse")
    grade_cli.add_check_parser(subparsers, "sockcourse")
    try:
        args = parser.parse_args(argv)
        return args.run(args)
    except UsageError as exc:
        print(f"sockcourse: error: {exc}", file=__import__("sys").stderr)
        return 2
    except SystemExit as exc:
        return exc.code


# == regions and dependencies, without a kernel ===================================================
IDS = [q.id for q in ch01.QUESTIONS]


def test_regions_come_from_the_metadata():
    nb = F.solution()
    layout = grade.map_regions(nb, IDS)
    assert layout.mode == "metadata"
    assert layout.setup == [0, 1]
    assert layout.regions == {"q1": [2, 3, 4], "q2": [5, 6, 7], "q3": [8, 9, 10]}
    assert layout.trailing == [11, 12]   # the summary cells are never run


def test_without_metadata_regions_come_from_the_headings():
    layout = grade.map_regions(F.strip_metadata(F.solution()), IDS)
    assert layout.mode == "headings"
    # The summary's markdown cell ends up in q3's region: a cell that runs nothing, so no harm.
    assert layout.regions == {"q1": [2, 3, 4], "q2": [5, 6, 7], "q3": [8, 9, 10, 11]}
    assert layout.trailing == [12]       # found by its check.summary( call


def test_without_metadata_or_headings_regions_end_at_the_check_calls():
    nb = F.strip_metadata(F.solution())
    nb.cells = [c for c in nb.cells if c.cell_type == "code"]   # no markdown, so no headings
    layout = grade.map_regions(nb, IDS)
    assert layout.mode == "check-calls"
    assert layout.setup == [0]           # up to the cell that imports the homework module
    assert layout.regions == {"q1": [1, 2], "q2": [3, 4], "q3": [5, 6]}
    assert layout.trailing == [7]


def test_a_student_cell_belongs_to_the_region_it_stands_in_and_a_duplicate_region_loses():
    nb = F.solution()
    F.insert_after(nb, F.index(nb, "q1", "answer"), "print(read_frames)")
    layout = grade.map_regions(nb, IDS)
    assert layout.regions["q1"] == [2, 3, 4, 5]
    # The q1 cells pasted again after q3: the later copy is graded, and the problem is said.
    copy = [nbformat.from_dict(nb.cells[i]) for i in layout.regions["q1"]]
    summary = layout.trailing[0]
    nb.cells[summary:summary] = copy
    layout = grade.map_regions(nb, IDS)
    assert layout.regions["q1"] == [summary, summary + 1, summary + 2, summary + 3]
    assert layout.regions["q3"] == [9, 10, 11]
    assert any("q1 appears more than once" in p for p in layout.problems)


def test_a_split_answer_cell_stays_in_its_region():
    nb = F.solution()
    at = F.index(nb, "q1", "answer")
    head, _, tail = nb.cells[at].source.partition("    while True:")
    nb.cells[at].source = head
    nb.cells.insert(at + 1, nbformat.from_dict({**nb.cells[at], "source": "    while True:" + tail}))
    assert grade.map_regions(nb, IDS).regions["q1"] == [2, 3, 4, 5]


def test_a_question_runs_the_earlier_regions_whose_names_it_uses():
    nb = F.solution()
    F.append_to(nb, F.index(nb, "q3", "answer"), "def _frames_of(sock):\n    return list(read_frames(sock))")
    layout = grade.map_regions(nb, IDS)
    plan = grade._plan(nb, layout, "q3", "upload")
    assert plan.needed == ["q1"] and plan.prefix == [1, 3, 4]
    # q2 uses nothing of q1's: only the setup runs before it.
    assert grade._plan(nb, layout, "q2", "kv_handler").prefix == [1]


def test_an_answer_defined_in_another_region_is_found_there():
    nb = F.solution()
    q1 = F.index(nb, "q1", "answer")
    q2 = F.index(nb, "q2", "answer")
    nb.cells[q2].source += "\n\n" + nb.cells[q1].source   # read_frames moved into q2's region
    nb.cells[q1].source = "# moved below"
    plan = grade._plan(nb, grade.map_regions(nb, IDS), "q1", "read_frames")
    assert plan.needed == ["q2"] and q2 in plan.prefix


def test_names_reads_definitions_and_uses_and_survives_magics():
    defined, loaded = grade.names("%matplotlib inline\n!ls\nx = 1\nimport struct as s\nfor i in range(3):\n    y = i\n"
                                  "def f(a):\n    return helper(a)\nclass C: pass\n")
    assert {"x", "s", "i", "y", "f", "C"} <= defined and "a" not in defined
    assert {"helper", "range"} <= loaded
    assert grade.names("def broken(:\n") is None


# == one folder, graded once through the command line ===========================================
def _forged(nb):
    """The student copy with outputs and metadata claiming full marks."""
    for cell in nb.cells:
        meta = cell.metadata.setdefault("sockcourse", {})
        meta["points"] = 100
        if meta.get("role") == "check":
            cell.execution_count = 3
            qid = meta["question"]
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout",
                                                   text=f"✔ {qid} · 9 of 9 conditions passed (100/100 points)\n"),
                            nbformat.v4.new_output("execute_result", data={"text/plain": "100"}, execution_count=3)]
    return nb


def _renamed(nb):
    """q1's check cell deleted; q2 renamed, its check cell calling check.q1 by a copy-paste slip; q3 renamed and
    its check cell deleted."""
    q2 = F.index(nb, "q2", "answer")
    nb.cells[q2].source = nb.cells[q2].source.replace("def kv_handler(", "def my_store_handler(")
    nb.cells[F.index(nb, "q2", "check")].source = "check.q1(my_store_handler)"
    q3 = F.index(nb, "q3", "answer")
    nb.cells[q3].source = nb.cells[q3].source.replace("def upload(", "def send_file(")
    for qid in ("q3", "q1"):
        del nb.cells[F.index(nb, qid, "check")]
    return nb


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """The folder, its exit code, the CSV rows, the JSON by submission, and the feedback folder."""
    root = tmp_path_factory.mktemp("grade")
    subs = root / "subs"
    F.write(F.solution(), subs / "alice" / "01_tcp.ipynb")
    F.write(_forged(F.student()), subs / "bob" / "01_tcp.ipynb")
    text = nbformat.writes(F.solution())
    (subs / "carol").mkdir()
    (subs / "carol" / "01_tcp.ipynb").write_text(text[: len(text) // 2], encoding="utf-8")
    (subs / "dave").mkdir()
    (subs / "dave" / "01_tcp.ipynb").write_text("", encoding="utf-8")
    # Erin's editor saved nbformat 3, dropped every cell's metadata and names another kernel.
    erin = F.strip_metadata(F.solution())
    erin.metadata["kernelspec"] = {"name": "julia-1.9", "display_name": "Julia", "language": "julia"}
    (subs / "erin").mkdir()
    (subs / "erin" / "01_tcp.ipynb").write_text(nbformat.writes(nbformat.convert(erin, 3), version=3),
                                                encoding="utf-8")
    F.write(_renamed(F.solution()), subs / "grace" / "01_tcp.ipynb")
    out = root / "out"
    out.mkdir()
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        code = cli(["grade", str(subs), "--out", str(out / "grades.csv"), "--feedback", str(out / "feedback"),
                    "--jobs", "2", "--seed", SEED, *LIMITS])
    rows = list(csv.reader((out / "grades.csv").open(encoding="utf-8")))
    results = {r["submission"]: r for r in json.loads((out / "grades.json").read_text(encoding="utf-8"))}
    return {"root": root, "subs": subs, "code": code, "rows": rows, "json": results, "feedback": out / "feedback",
            "stderr": stderr.getvalue()}


def test_the_csv_has_a_points_possible_row_then_one_row_per_submission(graded):
    header, possible, *rows = graded["rows"]
    assert header == ["submission", "student", "chapter", "status", "q1", "q2", "q3", "total", "max", "percent",
                      "seconds", "problems"]
    assert possible == ["points-possible", "", "01_tcp", "", str(MAX["q1"]), str(MAX["q2"]), str(MAX["q3"]),
                        str(TOTAL), str(TOTAL), "100", "", ""]
    by = {row[0]: dict(zip(header, row)) for row in rows}
    assert list(by) == [f"{s}/01_tcp.ipynb" for s in ("alice", "bob", "carol", "dave", "erin", "grace")]
    alice = by["alice/01_tcp.ipynb"]
    assert (alice["student"], alice["status"], alice["total"], alice["percent"]) == ("alice", "ok", str(TOTAL), "100.0")
    assert [alice[q] for q in ("q1", "q2", "q3")] == [str(MAX[q]) for q in ("q1", "q2", "q3")]
    carol = by["carol/01_tcp.ipynb"]
    assert (carol["status"], carol["q1"], carol["total"], carol["max"], carol["percent"]) == (
        "unreadable", "", "0", str(TOTAL), "0.0")
    assert carol["problems"].startswith("not JSON: ")
    assert by["dave/01_tcp.ipynb"]["status"] == "unreadable" and "empty" in by["dave/01_tcp.ipynb"]["problems"]
    bob = by["bob/01_tcp.ipynb"]
    assert bob["problems"] == "q1 not-attempted; q2 not-attempted; q3 not-attempted"


def test_some_ungradable_submissions_make_exit_code_1(graded):
    assert graded["code"] == 1


def test_progress_is_one_line_per_submission_on_stderr(graded):
    lines = graded["stderr"].splitlines()
    assert lines[0].startswith(f"grading 6 submission(s) from ") and lines[0].endswith(f"with seed {SEED}")
    done = [line for line in lines if re.match(r"\[\d/6\] ", line)]
    assert len(done) == 6
    assert any(re.match(rf"\[\d/6\] alice/01_tcp.ipynb: ok, {TOTAL}/{TOTAL} points, \d+\.\d s$", line)
               for line in done)
    assert any("carol/01_tcp.ipynb: unreadable: not JSON" in line for line in done)
    assert "5 of 6 submission(s) graded" not in graded["stderr"]
    assert "4 of 6 submission(s) graded" in graded["stderr"] and "could not grade 2" in graded["stderr"]


def test_the_solution_earns_full_marks_and_the_json_says_how(graded):
    alice = graded["json"]["alice/01_tcp.ipynb"]
    assert alice["status"] == "ok" and alice["total"] == alice["max"] == TOTAL
    assert len(alice["sha256"]) == 64
    assert alice["grader"]["seed"] == int(SEED) and alice["grader"]["public"] is False
    assert {"sockcourse", "python", "platform", "nbclient", "started", "limits"} <= set(alice["grader"])
    assert alice["regions"]["mode"] == "metadata" and alice["killed"] == [] and alice["problems"] == []
    for qid, entry in alice["questions"].items():
        assert entry["status"] == "graded" and entry["found_by"] == "check-call", qid
        assert entry["score"] == entry["max"] == MAX[qid]
        assert entry["seconds"] > entry["kernel_seconds"] > 0
        names = [c["id"] for c in entry["conditions"]]
        assert names == [c.id for c in getattr(ch01, qid).conditions]   # graded-only ones included
        assert all(c["passed"] and c["points"] == c["max"] for c in entry["conditions"])
        assert entry["text"].startswith(f"✔ {qid} ")


def test_forged_outputs_and_points_earn_nothing(graded):
    bob = graded["json"]["bob/01_tcp.ipynb"]
    assert bob["total"] == 0 and bob["status"] == "ok"
    for entry in bob["questions"].values():
        assert (entry["status"], entry["score"], entry["result_status"]) == ("not-attempted", 0, "not-attempted")
        assert "not attempted yet" in entry["message"]


def test_unreadable_files_carry_the_parsers_sentence(graded):
    carol = graded["json"]["carol/01_tcp.ipynb"]
    assert carol["status"] == "unreadable" and carol["questions"] == {} and carol["total"] == 0
    assert re.match(r"not JSON: .+ line \d+ column \d+", carol["detail"])
    assert graded["json"]["dave/01_tcp.ipynb"]["detail"].startswith("the file is empty")


def test_version_3_stripped_metadata_and_a_foreign_kernelspec_still_grade_in_full(graded):
    erin = graded["json"]["erin/01_tcp.ipynb"]
    assert erin["status"] == "ok" and erin["total"] == TOTAL
    assert erin["regions"]["mode"] == "headings"
    assert any("found by their headings" in p for p in erin["problems"])


def test_renamed_answers_and_deleted_check_cells_are_found(graded):
    grace = graded["json"]["grace/01_tcp.ipynb"]
    found = {qid: e["found_by"] for qid, e in grace["questions"].items()}
    assert found == {"q1": "name", "q2": "check-call", "q3": "only-new-callable"}
    assert grace["total"] == TOTAL
    assert any("send_file was graded instead" in p for p in grace["problems"])
    # The region decides the question, whatever the check cell in it says.
    assert "the check cell in q2's part calls check.q1; it was graded as q2" in grace["problems"]


def test_feedback_holds_each_questions_report(graded):
    alice = graded["json"]["alice/01_tcp.ipynb"]
    text = (graded["feedback"] / "alice" / "01_tcp.md").read_text(encoding="utf-8")
    assert text.startswith("# 01_tcp: alice")
    for entry in alice["questions"].values():
        assert entry["text"] in text
    assert "could not be graded: not JSON" in (graded["feedback"] / "carol" / "01_tcp.md").read_text(encoding="utf-8")


def test_two_jobs_grade_as_one_does(graded, tmp_path):
    subs = tmp_path / "subs"
    for student in ("alice", "erin"):
        shutil.copytree(graded["subs"] / student, subs / student)
    # Two of the three questions keep this quick; the folder above graded all three, two at a time.
    code = cli(["grade", str(subs), "--out", str(tmp_path / "g.csv"), "--jobs", "1", "--seed", SEED,
                "--question", "q1", "--question", "q2", *LIMITS])
    assert code == 0   # every submission graded
    alone = {r["submission"]: r for r in json.loads((tmp_path / "g.json").read_text(encoding="utf-8"))}

    def outcome(result):
        return {qid: (e["score"], e["status"], [(c["id"], c["passed"]) for c in e["conditions"]])
                for qid, e in result["questions"].items() if qid in ("q1", "q2")}

    assert list(alone) == ["alice/01_tcp.ipynb", "erin/01_tcp.ipynb"]
    for name, result in alone.items():
        assert list(result["questions"]) == ["q1", "q2"]
        assert outcome(result) == outcome(graded["json"][name]), name


def test_check_prints_what_the_feedback_says_for_the_public_checks(graded, tmp_path, capsys):
    folder = tmp_path / "one"
    shutil.copytree(graded["subs"] / "bob", folder / "bob")
    grade.grade_folder(folder, out_csv=tmp_path / "p.csv", feedback=tmp_path / "fb", public=True,
                       limits=grade.Limits(cell=5, question=40), questions=("q1",))
    capsys.readouterr()
    assert cli(["check", str(folder / "bob" / "01_tcp.ipynb"), "--cell-timeout", "5", "--question", "q1"]) == 0
    printed = capsys.readouterr()
    feedback = (tmp_path / "fb" / "bob" / "01_tcp.md").read_text(encoding="utf-8")
    block = feedback.split("```text\n", 1)[1].rsplit("```", 1)[0]
    # The feedback names the student; check, run by the student, does not.
    assert printed.out == block.replace(" · bob", "", 1)
    assert "public checks" in printed.out and "not attempted yet" in printed.out
    assert "saved on disk" in printed.err


def test_resume_keeps_every_unchanged_result_and_grades_nothing_again(graded, tmp_path):
    out = tmp_path / "grades.csv"
    shutil.copy(graded["feedback"].parent / "grades.json", tmp_path / "grades.json")
    (graded["root"] / "subs" / "zoe").mkdir()
    shutil.copy(graded["subs"] / "dave" / "01_tcp.ipynb", graded["subs"] / "zoe" / "01_tcp.ipynb")
    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr):
            # No --seed: a resumed run takes the earlier run's, or nothing would match.
            code = cli(["grade", str(graded["subs"]), "--out", str(out), "--resume", *LIMITS])
    finally:
        shutil.rmtree(graded["subs"] / "zoe")
    assert code == 1
    kept = [line for line in stderr.getvalue().splitlines() if line.endswith("(kept from the earlier run)")]
    assert len(kept) == 6 and f"with seed {SEED}" in stderr.getvalue()
    again = {r["submission"]: r for r in json.loads((tmp_path / "grades.json").read_text(encoding="utf-8"))}
    assert again.pop("zoe/01_tcp.ipynb")["status"] == "unreadable"   # the one new file was graded
    assert again == graded["json"]


def test_only_grades_the_submissions_that_match(graded, tmp_path):
    out = tmp_path / "g.csv"
    assert cli(["grade", str(graded["subs"]), "--out", str(out), "--only", "[cd]*/*.ipynb"]) == 1
    rows = list(csv.reader(out.open(encoding="utf-8")))
    assert [row[0] for row in rows[1:]] == ["points-possible", "carol/01_tcp.ipynb", "dave/01_tcp.ipynb"]


def test_the_class_summary_ranks_conditions_by_how_often_they_failed(graded):
    results = list(graded["json"].values())
    results.append({"chapter": "01_tcp", "questions": {"q1": {"status": "graded", "conditions": [
        {"id": "chunk1", "status": "failed"}, {"id": "plain", "status": "passed"}]}}})
    text = grade.class_summary(results)
    lines = text.splitlines()
    assert lines[0] == "failed  of  condition"
    assert re.match(r"\s+25 %\s+4  01_tcp q1 chunk1$", lines[1])   # alice, erin, grace passed it; one failed
    assert re.search(r"\s+0 %\s+4  01_tcp q1 plain$", text, re.M)
    assert grade.class_summary([]).startswith("No condition was run")


def test_netns_grades_inside_a_network_namespace_of_its_own(graded, tmp_path):
    folder = tmp_path / "subs"
    shutil.copytree(graded["subs"] / "bob", folder / "bob")
    code = cli(["grade", str(folder), "--out", str(tmp_path / "g.csv"), "--netns", "--question", "q1", *LIMITS])
    assert code == 0
    (bob,) = json.loads((tmp_path / "g.json").read_text(encoding="utf-8"))
    assert bob["grader"]["network"] == "own namespace"
    assert bob["questions"]["q1"]["status"] == "not-attempted"   # a kernel ran, checks reached loopback


@pytest.mark.parametrize("argv, words", [
    (["grade", "/nonexistent/subs", "--out", "g.csv"], "There is no folder"),
    (["grade", ".", "--out", "g.csv", "--jobs", "0"], "--jobs takes a whole number"),
    (["grade", ".", "--out", "g.csv", "--memory", "lots"], "--memory takes a size"),
    (["grade", ".", "--out", "g.csv", "--chapter", "99"], "no homework for chapter"),
    (["check", "/nonexistent/01_tcp.ipynb"], "There is no file"),
    (["check", "x.ipynb", "--question", "2"], "--question takes a question's name"),
    (["grade", "."], "required"),
])
def test_bad_usage_is_one_sentence_and_exit_code_2(argv, words, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli(argv) == 2
    assert words in capsys.readouterr().err


def test_grades_that_cannot_be_written_are_bad_usage_before_any_grading(tmp_path, capsys):
    (tmp_path / "01_tcp.ipynb").write_text("", encoding="utf-8")
    assert cli(["grade", str(tmp_path), "--out", "/proc/no-such-folder/g.csv"]) == 2
    assert "The grades cannot be written to '/proc/no-such-folder/g.csv'" in capsys.readouterr().err


def test_an_empty_folder_is_bad_usage(tmp_path, capsys):
    assert cli(["grade", str(tmp_path), "--out", str(tmp_path / "g.csv")]) == 2
    assert "no .ipynb files" in capsys.readouterr().err


def test_the_help_says_plainly_that_the_grader_is_no_sandbox(capsys):
    assert cli(["grade", "--help"]) == 0
    text = capsys.readouterr().out
    assert "NOT A SANDBOX" in text
    assert grade.DOCKER_COMMAND in text
    assert 'docker run --rm --network none -v "$PWD/subs:/subs:ro"' in grade.DOCKER_COMMAND


def test_a_notebook_of_no_known_chapter_is_an_error_not_a_crash(tmp_path):
    nb = F.strip_metadata(F.solution())
    nb.cells = [c for c in nb.cells if "sockcourse.homework" not in c.source]
    result = grade.grade_file(F.write(nb, tmp_path / "notes.ipynb"))
    assert (result["status"], result["total"], result["questions"]) == ("error", 0, {})
    assert "could not tell which chapter" in result["detail"] and "--chapter" in result["detail"]


def test_limits_refuse_nonsense_with_a_sentence():
    with pytest.raises(ValueError, match="Limits.cell must be a number of seconds"):
        grade.Limits(cell=0)
    with pytest.raises(ValueError, match="Limits.memory"):
        grade.Limits(memory=10)
