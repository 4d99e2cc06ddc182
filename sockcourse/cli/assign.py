"""The `assign` command: the homework's student copies and tested solutions, built from their sources.

    python -m sockcourse assign                                   # both, at their usual places
    python -m sockcourse assign --student notebooks/homework      # only the student copies (make student)
    python -m sockcourse assign --solutions build/solutions       # only the solutions (make solutions)
    python -m sockcourse assign --check                           # are the committed copies up to date?

The work is `sockcourse.homework.assign`; this module reads the options and
prints one line per step on stderr. Each problem is one line naming the
notebook, the cell and the line, and the exit code is 1; bad options are one
line and exit code 2.
"""

from __future__ import annotations

import argparse
import time

from .common import EXIT_FAILED, EXIT_OK, one_line, say, whole_number

#: Where the builds go when the command line does not say.
DEFAULT_SOURCES = "homework-source"
DEFAULT_STUDENT = "notebooks/homework"
DEFAULT_SOLUTIONS = "build/solutions"


def add_parser(subparsers, prog: str) -> None:
    """Add the `assign` subcommand; `prog` names the program in the examples."""
    sub = subparsers.add_parser(
        "assign",
        help="build the homework's student copies and its tested solutions from their sources",
        description=(
            "Build the homework notebooks from their sources (the notebooks that hold the "
            "solutions between '# BEGIN SOLUTION' and '# END SOLUTION'). First every source is "
            "checked: its markers, and its cells against the chapter's questions. The student copy "
            "gets a stub that raises NotImplementedError in place of each solution and no outputs; "
            "it is scanned for solution lines, run top to bottom, and graded, where it must score 0. "
            "The solutions copy is run top to bottom with its outputs kept, then graded twice, "
            "where it must earn full marks both times. With neither --student nor --solutions, "
            "both are built at their usual places; with one of them, only that one."),
        epilog="\n".join([
            "examples:",
            f"  {prog} assign",
            f"      student copies into {DEFAULT_STUDENT}/, solutions into {DEFAULT_SOLUTIONS}/",
            f"  {prog} assign --student {DEFAULT_STUDENT}",
            "      only the student copies (what 'make student' runs)",
            f"  {prog} assign {DEFAULT_SOURCES}/01_tcp.ipynb --solutions /tmp/solutions",
            "      one chapter's solutions, run and graded",
            f"  {prog} assign --check",
            "      write nothing; fail if the committed student copies differ from a fresh build",
        ]),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub.add_argument("sources", metavar="SOURCES", nargs="?", default=DEFAULT_SOURCES,
                     help=f"a folder of homework sources (NN_name.ipynb), or one of them "
                          f"(default: {DEFAULT_SOURCES})")
    sub.add_argument("--student", metavar="DIR",
                     help=f"write the student copies into DIR (default: {DEFAULT_STUDENT}, when "
                          f"--solutions is not given either)")
    sub.add_argument("--solutions", metavar="DIR",
                     help=f"write the executed, graded solutions copies into DIR (default: "
                          f"{DEFAULT_SOLUTIONS}, when --student is not given either)")
    sub.add_argument("--check", action="store_true",
                     help="write nothing; fail if the student copies in the --student folder differ "
                          "from a fresh build (run no kernel: only the lint, the build and the leak scan)")
    sub.add_argument("--no-validate", action="store_true",
                     help="do not run and grade the student copies (quicker while editing a source; "
                          "the lint and the leak scan still run)")
    sub.add_argument("--jobs", metavar="N", default="1",
                     help="run and grade N chapters at a time, each in its own process (default: 1); "
                          "their checks mostly wait on the network, so 2 is quicker even on 2 cores")
    sub.set_defaults(run=run, prog=sub.prog)


def run(args) -> int:
    """Build (or check) what the options ask for; return the exit code."""
    # Imported here: nbformat and the homework package are for this command alone, and
    # every other command starts quicker without them.
    from ..homework import assign as building

    jobs = whole_number(args.jobs, "--jobs", low=1, high=64, example="--jobs 2")
    student, solutions = args.student, args.solutions
    if args.check:
        if solutions is not None:
            say(f"{args.prog}: note: --check compares the student copies only; --solutions "
                f"{solutions} is not looked at.")
        student, solutions = student or DEFAULT_STUDENT, None
    elif student is None and solutions is None:
        student, solutions = DEFAULT_STUDENT, DEFAULT_SOLUTIONS
    started = time.monotonic()
    try:
        building.assign(args.sources, student=student, solutions=solutions, check=args.check,
                        validate=not args.no_validate, jobs=jobs, log=say)
    except building.AssignFailed as exc:
        for problem in exc.problems:
            say(f"{args.prog}: error: {one_line(problem)}")
        say(f"{args.prog}: {len(exc.problems)} problem{'s' if len(exc.problems) != 1 else ''}"
            f"{'; nothing was written' if args.check else ''}.")
        return EXIT_FAILED
    say(f"{args.prog}: done in {time.monotonic() - started:.1f} s.")
    return EXIT_OK
