"""The `grade` and `check` commands: a folder of submitted homework graded, or one notebook checked as the grader would.

    python -m sockcourse grade subs/ --out grades.csv --feedback feedback/
    python -m sockcourse check notebooks/homework/01_tcp.ipynb

The work is `sockcourse.homework.grade`; this module reads the options and
prints one progress line per submission on stderr. Exit codes: 0 every
submission was graded (whatever the scores), 1 some could not be graded at
all (they are in the CSV, with their status), 2 bad usage.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import textwrap

from ..homework.policy import DOCKER_COMMAND
from .common import EXIT_FAILED, EXIT_OK, UsageError, say, whole_number

#: What `--memory` takes: a number of bytes, or one with a unit (binary: 1K = 1024).
_SIZE = re.compile(r"^\s*(\d+)\s*([KMGT]?)i?B?\s*$", re.IGNORECASE)


def _not_a_sandbox() -> str:
    return "\n".join([
        "THE GRADER IS NOT A SANDBOX. A submission's code runs as you: it can read and write",
        "your files and start programs. Its kernels refuse sockets to anything but loopback,",
        "which catches accidents, not attacks. Grade work you do not trust in a container",
        "with no network, the submissions mounted read-only:",
        "",
        f"  {DOCKER_COMMAND}",
    ])


def add_grade_parser(subparsers, prog: str) -> None:
    """Add the `grade` subcommand; `prog` names the program in the examples."""
    sub = subparsers.add_parser(
        "grade",
        help="grade a folder of submitted homework notebooks (not a sandbox: see its --help)",
        description=textwrap.fill(
            "Grade every homework notebook (.ipynb) under SUBMISSIONS_DIR. Each question runs in "
            "a fresh kernel of this Python, in a fresh temporary folder: the notebook's setup "
            "cells, the earlier answers it uses, its own cells, then the grader's check with "
            "grading seeds and the graded-only conditions. Points come only from what that check "
            "records during this run; outputs saved in the notebook count for nothing. A hang, a "
            "crash or a leftover process costs that question only, and everything a question "
            "started is killed before the next one.", width=78) + "\n\n" + _not_a_sandbox(),
        epilog="\n".join([
            "examples:",
            f"  {prog} grade subs/ --out grades.csv",
            "      grades.csv (a points-possible row, then one row per submission) and grades.json",
            f"  {prog} grade subs/ --out grades.csv --feedback feedback/ --jobs 2",
            "      also feedback/<student>/<chapter>.md, two submissions at a time",
            f"  {prog} grade subs/ --out grades.csv --seed 914220",
            "      grade again with the seed printed (and stored) by an earlier run",
            f"  {prog} grade subs/ --out grades.csv --netns",
            "      Linux: in a network namespace where only loopback exists (unshare -rn)",
            "",
            "exit codes: 0 every submission graded, 1 some could not be graded at all, 2 bad usage.",
        ]),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub.add_argument("folder", metavar="SUBMISSIONS_DIR",
                     help="the folder of submitted notebooks; a sub-folder per student names the student "
                          "(alice/01_tcp.ipynb), else the file name does")
    sub.add_argument("--out", metavar="CSV", required=True, help="the CSV file of grades to write")
    sub.add_argument("--json", metavar="FILE",
                     help="the JSON file with every condition, message, hint, timing and leftover "
                          "(default: next to --out, ending in .json)")
    sub.add_argument("--feedback", metavar="DIR", help="write one Markdown report per submission into DIR")
    sub.add_argument("--chapter", metavar="NN",
                     help="the chapter of every submission, such as 01 (default: from each notebook)")
    sub.add_argument("--jobs", metavar="N",
                     help="grade N submissions at a time (default: half the cores, at least 1)")
    sub.add_argument("--seed", metavar="N", help="the grading seed (default: a random one, printed and stored)")
    _question_option(sub)
    _limit_options(sub)
    sub.add_argument("--memory", metavar="SIZE",
                     help="the most memory one kernel may map, such as 4G (Linux; default: no limit)")
    sub.add_argument("--student-regex", metavar="REGEX",
                     help="derive the student's name from the path (relative to SUBMISSIONS_DIR) with this "
                          "regular expression: its group 'student', or its first group")
    sub.add_argument("--keep-workdirs", action="store_true",
                     help="keep each question's temporary working folder (their paths are in the JSON)")
    sub.add_argument("--only", metavar="PATTERN",
                     help="grade only the submissions whose path under SUBMISSIONS_DIR matches this glob "
                          "pattern, such as 'alice/*'")
    sub.add_argument("--resume", action="store_true",
                     help="keep the results of an earlier run (its JSON file) for every notebook that has not "
                          "changed since, with its seed; grade the others")
    sub.add_argument("--summary", action="store_true",
                     help="print, at the end, how often each condition failed across the submissions")
    sub.add_argument("--netns", action="store_true",
                     help="Linux: grade inside a network namespace of its own (unshare -rn), where only "
                          "loopback exists; real isolation from the network, though still no sandbox")
    sub.set_defaults(run=run_grade, prog=sub.prog)


def add_check_parser(subparsers, prog: str) -> None:
    """Add the `check` subcommand; `prog` names the program in the examples."""
    sub = subparsers.add_parser(
        "check",
        help="check your saved homework notebook the way the grader runs it, with the public checks",
        description=textwrap.fill(
            "Check one homework notebook as the grader will run it: each question in a fresh "
            "kernel, from the file as it is saved on disk, with the public checks you also see in "
            "the notebook. It answers 'it works in my kernel, but will it work in a fresh one?': "
            "a name defined in a cell you have since deleted works in your kernel but not here. "
            "Save the notebook first (Ctrl-S): what is not saved is not checked, nor graded.",
            width=78),
        epilog="\n".join([
            "examples:",
            f"  {prog} check notebooks/homework/01_tcp.ipynb",
            "",
            "exit codes: 0 the notebook was checked (whatever the score), 1 it could not be, 2 bad usage.",
        ]),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub.add_argument("file", metavar="FILE", help="the homework notebook to check")
    sub.add_argument("--chapter", metavar="NN", help="its chapter, such as 01 (default: from the notebook)")
    _question_option(sub)
    _limit_options(sub)
    sub.set_defaults(run=run_check, prog=sub.prog)


def _question_option(sub) -> None:
    sub.add_argument("--question", metavar="QN", action="append",
                     help="only this question, such as q2 (repeat it for more; default: every question)")


def _questions(args):
    if not args.question:
        return None
    for qid in args.question:
        if not re.fullmatch(r"q\d+", qid):
            raise UsageError(f"The option --question takes a question's name such as q1, but got {qid!r}; "
                             f"for example --question q2.")
    return tuple(args.question)


def _limit_options(sub) -> None:
    sub.add_argument("--cell-timeout", metavar="S", help="seconds one cell may run (default: 60)")
    sub.add_argument("--question-timeout", metavar="S", help="seconds one question may take in all (default: 180)")
    sub.add_argument("--notebook-timeout", metavar="S", help="seconds one notebook may take in all (default: 900)")


def _limits(args, grade):
    values = {}
    for option, field in (("cell_timeout", "cell"), ("question_timeout", "question"),
                          ("notebook_timeout", "notebook")):
        text = getattr(args, option)
        if text is not None:
            values[field] = whole_number(text, "--" + option.replace("_", "-"), low=1, high=86400,
                                         example=f"--{option.replace('_', '-')} 60")
    memory = getattr(args, "memory", None)
    if memory is not None:
        match = _SIZE.match(memory)
        if not match:
            raise UsageError(f"The option --memory takes a size such as 4G or 512M, but got {memory!r}; "
                             f"for example --memory 4G.")
        values["memory"] = int(match[1]) << (10 * " KMGT".index(match[2].upper() or " "))
        if values["memory"] < 1 << 26:
            raise UsageError(f"The option --memory must be at least 64M, but got {memory!r}; a kernel needs "
                             f"more than that to start; for example --memory 4G.")
    try:
        return grade.Limits(**values)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _chapter(args):
    from ..homework import chapter

    if args.chapter is None:
        return None
    try:
        return chapter(args.chapter).CHAPTER
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def run_grade(args) -> int:
    """Grade the folder; return 0 if every submission was graded, 1 if some could not be."""
    # Imported here: nbclient and the kernel machinery are for this command alone.
    from ..homework import grade

    if args.netns and os.environ.get(grade.NETNS_ENV) != "1":
        return _in_own_network(args, grade)
    limits = _limits(args, grade)
    jobs = (max(1, (os.cpu_count() or 2) // 2) if args.jobs is None
            else whole_number(args.jobs, "--jobs", low=1, high=256, example="--jobs 2"))
    seed = None if args.seed is None else whole_number(args.seed, "--seed", low=0, high=2 ** 31, example="--seed 1")
    results = grade.grade_folder(
        args.folder, out_csv=args.out, out_json=args.json, feedback=args.feedback, jobs=jobs,
        chapter=_chapter(args), seed=seed, limits=limits, keep_workdirs=args.keep_workdirs,
        student_regex=args.student_regex, questions=_questions(args), only=args.only, resume=args.resume,
        progress=say)
    if args.summary:
        print(grade.class_summary(results), end="", flush=True)
    ungraded = [r for r in results if r["status"] in ("unreadable", "error")]
    json_path = args.json or os.path.splitext(args.out)[0] + ".json"
    say(f"wrote {args.out} and {json_path}" + (f", and feedback into {args.feedback}" if args.feedback else "")
        + f": {len(results) - len(ungraded)} of {len(results)} submission(s) graded.")
    if ungraded:
        say(f"could not grade {len(ungraded)}: " + "; ".join(
            f"{r['submission']} ({r['status']}: {r.get('detail', '')})" for r in ungraded[:5])
            + (" ..." if len(ungraded) > 5 else ""))
        return EXIT_FAILED
    return EXIT_OK


# -- --netns: the same command again, in a network namespace of its own --------------------------------
_NETNS_MAIN = "import sys; from sockcourse.cli.grade import netns_main; sys.exit(netns_main(sys.argv[1:]))"


def _argv(args) -> list[str]:
    """The grade command's options again, as text, for the run inside the namespace."""
    argv = [os.path.abspath(args.folder), "--out", os.path.abspath(args.out)]
    for option in ("json", "feedback"):
        if getattr(args, option) is not None:
            argv += [f"--{option}", os.path.abspath(getattr(args, option))]
    for option in ("chapter", "jobs", "seed", "cell_timeout", "question_timeout", "notebook_timeout", "memory",
                   "student_regex", "only"):
        if getattr(args, option) is not None:
            argv += ["--" + option.replace("_", "-"), getattr(args, option)]
    for qid in args.question or []:
        argv += ["--question", qid]
    argv += [f"--{flag.replace('_', '-')}" for flag in ("keep_workdirs", "resume", "summary") if getattr(args, flag)]
    return argv


def _in_own_network(args, grade) -> int:
    """Run this grade command again under `unshare -rn` (a user and a network namespace), with loopback up."""
    unshare = shutil.which("unshare")
    if not sys.platform.startswith("linux") or unshare is None:
        raise UsageError("The option --netns needs Linux and its unshare command (util-linux); grade without "
                         f"--netns, or in a container with no network: {grade.DOCKER_COMMAND}")
    try:
        probe = subprocess.run([unshare, "-rn", "true"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        probe = subprocess.CompletedProcess([unshare], 1, "", str(exc))
    if probe.returncode != 0:
        said = " ".join(probe.stderr.split()) or f"exit code {probe.returncode}"
        raise UsageError(f"The option --netns needs unprivileged user namespaces, which this machine refuses "
                         f"(unshare -rn said: {said}); grade without --netns, or in a container with no network.")
    env = dict(os.environ, **{grade.NETNS_ENV: "1"})
    # The child grades within its own limits; this bound only keeps a wedged child from holding the terminal.
    limits = _limits(args, grade)
    jobs = 1 if args.jobs is None else max(1, int(args.jobs)) if args.jobs.isdigit() else 1
    count = len(grade.submissions(args.folder)) if os.path.isdir(args.folder) else 1
    bound = grade.submission_bound(limits) * (-(-count // jobs)) + 120
    # The child's output goes straight to this terminal; its exit code is this command's.
    try:
        return subprocess.run([unshare, "-rn", sys.executable, "-c", _NETNS_MAIN, *_argv(args)], env=env,
                              timeout=bound).returncode
    except subprocess.TimeoutExpired:
        say(f"{args.prog}: error: the grader in its own network namespace ran past {bound:.0f} s and was stopped; "
            f"the CSV and JSON hold the submissions it finished.")
        return EXIT_FAILED


def netns_main(argv: list[str]) -> int:
    """The grade command inside its own network namespace: bring loopback up, then grade (see --netns)."""
    from ..homework import grade
    from .common import Parser, one_line

    try:
        grade.loopback_up()
    except OSError as exc:
        say(f"grade --netns: error: the loopback interface of the new network namespace could not be brought "
            f"up ({exc}); grade without --netns.")
        return EXIT_FAILED
    parser = Parser(prog="sockcourse")
    add_grade_parser(parser.add_subparsers(dest="command"), "sockcourse")
    args = parser.parse_args(["grade", *argv])
    try:
        return args.run(args)
    except UsageError as exc:
        say(f"{args.prog}: error: {one_line(exc)}")
        return 2


def run_check(args) -> int:
    """Check one notebook with the public checks; print the report; 0 if it could be checked."""
    from ..homework import grade

    limits = _limits(args, grade)
    result = grade.grade_file(args.file, chapter=_chapter(args), limits=limits, public=True,
                              questions=_questions(args))
    print(grade.report_text(result), end="", flush=True)
    if result["status"] in ("unreadable", "error"):
        return EXIT_FAILED
    say("This is the file as saved on disk; the grader runs it the same way, with other seeds and sizes "
        "and a few more conditions.")
    return EXIT_OK
