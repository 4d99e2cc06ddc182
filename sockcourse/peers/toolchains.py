"""The compilers that build the course's peers in other languages, described as data.

A `Toolchain` says, for one language, how to find its compiler on this
machine, how to build one source file into a program, and how to run the
program; nothing else in the course knows a compiler's command line. Today
there is one record, C; chapter 06 adds Java and Rust as two more records of
the same shape, with no new code:

    Toolchain("java", "Java", env="JAVAC", candidates=("javac",), suffix=".java",
              build=("{compiler}", "-d", "{folder}", "{source}"),
              run=("java", "-cp", "{folder}", "{name}"), ...)

The sources live in `peers/src/<language>/`. `built(name)` compiles one into a
private temporary folder, yields the program, and removes the folder
afterwards, so nothing is left behind. A missing compiler, or one that
refuses the source, is a `BuildError` whose message says which and quotes
what the compiler printed.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..core.checks import check_choice
from ..core.errors import ArgumentError, BuildError

SOURCES = Path(__file__).resolve().parent / "src"

#: Seconds one compilation may take.
BUILD_TIMEOUT = 60.0

#: The most characters of a compiler's complaint quoted in a BuildError.
QUOTED = 800


@dataclass(frozen=True)
class Toolchain:
    """How to build and run the peers of one language: all of it data, read by `built()` and `run_command()`.

    In `build` and `run`, "{compiler}" stands for the compiler's words, "{flags}"
    for `flags`, and "{source}", "{program}", "{folder}", "{name}" for the
    source file, the built program, the private folder and the peer's name.
    """

    language: str            # the key: "c"
    title: str               # the name in sentences: "C"
    env: str | None          # the environment variable that names the compiler, if the language has one
    candidates: tuple        # compilers to look for on PATH, in order
    suffix: str              # of the source files
    flags: tuple             # what every build gets
    build: tuple             # the compiler's command line
    run: tuple               # the built program's command line
    programs: tuple          # the peers of this language, by name
    install: str             # one sentence: how to get a compiler

    def source(self, name: str) -> Path:
        """The source file of peer `name`."""
        if name not in self.programs:
            raise ArgumentError(f"There is no {self.title} peer called {name!r}; expected one of "
                                f"{', '.join(map(repr, self.programs))}, for example {self.programs[0]!r}.")
        return SOURCES / self.language / f"{name}{self.suffix}"


C = Toolchain(
    language="c", title="C", env="CC", candidates=("cc", "gcc", "clang"), suffix=".c",
    # Optimised like a release build, every warning a careful C programmer turns on.
    flags=("-O2", "-Wall", "-Wextra", "-std=c11"),
    build=("{compiler}", "{flags}", "-o", "{program}", "{source}"),
    run=("{program}",),
    programs=("pingpong",),
    install="install one, for example with 'apt-get install gcc' on Debian or 'xcode-select --install' on macOS",
)

#: Every toolchain the course knows, by language.
TOOLCHAINS = {toolchain.language: toolchain for toolchain in (C,)}

# Old names of the C-only module this was (peers/cbuild.py).
C_PROGRAMS = C.programs
CFLAGS = C.flags


def toolchain(language: str) -> Toolchain:
    """The record of `language` ("c")."""
    return TOOLCHAINS[check_choice(language, "language", TOOLCHAINS, example="c")]


def find(language: str = "c") -> list[str] | None:
    """The command of this machine's compiler for `language`, or None if it has none.

    The language's environment variable ($CC for C) wins when it names a
    program on PATH, as it does for make.
    """
    chain = toolchain(language)
    named = os.environ.get(chain.env) if chain.env else None
    if named:
        try:
            words = shlex.split(named)
        except ValueError:  # unbalanced quotes: as good as no $CC, so the usual names are tried
            words = []
        if words and shutil.which(words[0]):
            return [shutil.which(words[0]), *words[1:]]
    for candidate in chain.candidates:
        found = shutil.which(candidate)
        if found:
            return [found]
    return None


def compiler() -> list[str] | None:
    """The command of this machine's C compiler, or None if it has none."""
    return find("c")


def source(name: str, language: str = "c") -> Path:
    """The path of the source of peer `name` in `language`."""
    return toolchain(language).source(name)


def _fill(template: tuple, **values) -> list[str]:
    words = []
    for word in template:
        if word in ("{compiler}", "{flags}"):
            words.extend(values[word.strip("{}")])
        else:
            words.append(word.format(**values))
    return words


@contextlib.contextmanager
def built(name: str = "pingpong", language: str = "c"):
    """Build peer `name` into a private temporary folder; yield the program's path; remove it all at the end."""
    chain = toolchain(language)
    code = chain.source(name)
    found = find(language)
    tried = ", ".join(([f"${chain.env}"] if chain.env else []) + list(chain.candidates))
    if found is None:
        raise BuildError(f"No {chain.title} compiler was found (tried {tried}); {chain.install}.")
    folder = tempfile.mkdtemp(prefix=f"sockcourse-{chain.language}-")
    try:
        program = os.path.join(folder, name)
        argv = _fill(chain.build, compiler=found, flags=chain.flags, program=program, source=str(code),
                     folder=folder, name=name)
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=BUILD_TIMEOUT,
                                  stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise BuildError(f"The {chain.title} compiler took longer than {BUILD_TIMEOUT} s to build "
                             f"{code.name}; the machine may be overloaded, try again.") from None
        except OSError as exc:
            raise BuildError(f"The {chain.title} compiler {found[0]!r} could not be started "
                             f"({exc.strerror or exc}); {chain.install}.") from None
        if done.returncode != 0:
            said = (done.stderr or done.stdout).strip()
            quoted = f"it said:\n{said[-QUOTED:]}" if said else "it printed nothing."
            hint = f" (is ${chain.env}={os.environ[chain.env]!r} a compiler?)" if chain.env in os.environ else ""
            raise BuildError(f"The {chain.title} compiler ({found[0]}) could not build {code.name}: it exited "
                             f"with code {done.returncode}{hint}, and {quoted}")
        yield program
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def run_command(program: str, *args, language: str = "c", name: str = "") -> list[str]:
    """The argument list that runs a program `built()` made, with `args` after it."""
    chain = toolchain(language)
    return [*_fill(chain.run, program=program, folder=os.path.dirname(program), name=name or
                   os.path.basename(program), source="", compiler=(), flags=()), *map(str, args)]
