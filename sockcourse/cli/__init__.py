"""The command line: the course's servers, its fault-injecting link and its benchmark, from a terminal.

    python -m sockcourse serve echo                      # a server until Ctrl-C
    python -m sockcourse link --to 127.0.0.1:PORT ...    # a bad network in front of it
    python -m sockcourse bench --quick                   # this machine, measured
    python -m sockcourse check notebooks/homework/01_tcp.ipynb   # a homework, as the grader sees it
    python -m sockcourse assign                          # instructors: student copies and solutions
    python -m sockcourse grade SUBMISSIONS --out grades.csv      # instructors: grade a folder

One module per subcommand (`serve`, `link`, `bench`, `assign`; `grade` holds
both `grade` and `check`), each with
`add_parser(subparsers, prog)`, which sets up its options, and `run(args)`,
which returns the exit code; they parse and print, and leave the work to the
package. `common` holds what they share. A subcommand raises `UsageError`
for bad input (so does the package for a bad argument), which `main()`
prints as one sentence on stderr, with exit code 2.
"""

from __future__ import annotations

import sys

from . import assign, bench, grade, link, serve
from .common import EXIT_INTERRUPTED, EXIT_USAGE, Parser, UsageError, one_line, say

__all__ = ["SUBCOMMANDS", "UsageError", "build_parser", "main"]

#: Each adds one subcommand, given the subparsers and the program's name (for its examples).
SUBCOMMANDS = [serve.add_parser, link.add_parser, bench.add_parser, grade.add_check_parser,
               assign.add_parser, grade.add_grade_parser]


def build_parser(prog: str = "sockcourse") -> Parser:
    """The parser of the whole command line, with one subparser per subcommand."""
    parser = Parser(
        prog=prog,
        description=(
            "Tools of the course 'the birth, life and death of a socket'. Everything "
            "runs on this machine's loopback interface only, never on a real network."),
        epilog=f"Run '{prog} COMMAND --help' to read about one command.",
    )
    parser.set_defaults(run=None)
    subparsers = parser.add_subparsers(title="commands", dest="command", metavar="COMMAND")
    for add in SUBCOMMANDS:
        add(subparsers, prog)
    return parser


def main(argv: list[str] | None = None, prog: str = "sockcourse") -> int:
    """Run the command line; return the exit code (the console script exits with it)."""
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    if args.run is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return args.run(args)
    except UsageError as exc:
        say(f"{args.prog}: error: {one_line(exc)}")
        return EXIT_USAGE
    except KeyboardInterrupt:
        # Ctrl-C where no server waits for it (the benchmark, or a start-up): each
        # step's own finally blocks have cleaned up; a traceback would say nothing more.
        say(f"{args.prog}: stopped by Ctrl-C.")
        return EXIT_INTERRUPTED
