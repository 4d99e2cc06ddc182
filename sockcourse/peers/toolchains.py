"""The compilers and runtimes that build and run the course's peers in other languages, described as data.

A `Toolchain` says, for one language, how to find its compiler on this
machine, how to build one source file into a program, and how to run the
program; nothing else in the course knows a compiler's command line. There
are four records of the same shape, and adding a language adds a record, not
code:

    C     $CC, cc, gcc, clang     cc -O2 -Wall -Wextra -std=c11 -o PROG SRC    PROG
    Java  $JAVAC, javac           javac -d DIR SRC                             java -cp DIR Name
    Rust  $RUSTC, rustc           rustc -O --edition 2021 -o PROG SRC          PROG
    Node  $NODE, node, nodejs     node --check SRC (syntax only)               node FILE

The sources live in `peers/src/<language>/`, and a peer's name is its file's
stem: the peers of a language are the files found there (`programs()`), so
a peer is added by adding a file.

`build(name, language)` builds one peer into the course's cache
(`cache_dir()/<language>/<name>-<hash>/`). The hash covers the source bytes,
the build's command line and the compiler's own file (its resolved path, size
and modification time, read with one stat, not a `--version` run), so a
changed source or an upgraded compiler builds anew, and anything else is
found at once, by any process, without running a compiler: a notebook's
second "Run All" rebuilds nothing. A build is made in a temporary folder next
to its final place and renamed into it, so two processes building at once
both end with one whole copy, never half of one.

`built(name)` is the older way, kept for the measurements: it yields a copy of
the program in a private temporary folder and removes the folder afterwards.

A missing toolchain is said by `missing(language)` in one sentence (what was
tried, what to install); a compiler that refuses a source is a `BuildError`
that quotes the compiler's first lines.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shlex
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

try:  # POSIX: builds of one peer wait for each other instead of compiling twice
    import fcntl
except ImportError:  # pragma: no cover - Windows: the atomic rename alone keeps the cache whole
    fcntl = None

from ..core.checks import check_choice, check_path
from ..core.errors import ArgumentError, ArgumentTypeError, BuildError

SOURCES = Path(__file__).resolve().parent / "src"

#: The folder that holds the course's files when it runs from a checkout; the cache is never put inside it.
REPOSITORY = Path(__file__).resolve().parents[2]

#: Seconds one compilation may take (rustc on a busy two-core machine needs its time).
BUILD_TIMEOUT = 120.0

#: Seconds a build waits for another process that is building the same peer.
LOCK_TIMEOUT = BUILD_TIMEOUT + 10.0

#: The most lines, and characters, of a compiler's complaint quoted in a BuildError.
QUOTED_LINES = 10
QUOTED = 800

#: Part of every cache key: a change to how this module lays out a build invalidates old builds.
CACHE_FORMAT = 1

#: The variable that puts the cache elsewhere (tests point it at a temporary folder).
CACHE_ENV = "SOCKCOURSE_CACHE"


class Unavailable(BuildError):
    """A language's compiler or runtime is not on this machine; the message says what to install.

    A BuildError, so code that catches build failures catches this too;
    `sockcourse.peers.native.Unavailable` is this same class.
    """


@dataclass(frozen=True)
class Toolchain:
    """How to build and run the peers of one language: all of it data, read by `build()` and `Built.command()`.

    In `build`, `run` and `program`, "{compiler}" stands for the compiler's
    words, "{flags}" for `flags`, "{runtime}" for the runtime's path, and
    "{source}", "{program}", "{folder}", "{name}", "{suffix}" for the source
    file, the built program, its folder, the peer's name and the source's suffix.
    """

    language: str            # the key: "c"
    title: str               # the language in sentences: "C"
    env: str | None          # the environment variable that names the compiler, if the language has one
    candidates: tuple        # compilers to look for on PATH, in order
    suffix: str              # of the source files
    flags: tuple             # what every build gets
    build: tuple             # the compiler's command line
    run: tuple               # the built program's command line
    install: str             # how to get the toolchain, the end of the sentence missing() says
    called: str = ""         # the tool in sentences: "C compiler" ("" means "<title> compiler")
    verb: str = "build"      # what the tool does to a source, in sentences ("check" for node --check)
    program: str = "{folder}/{name}"  # where the build leaves the program
    copies_source: bool = False       # the program is the source itself, copied into the cache once it passes
    runtime: tuple = ()      # programs that run what was built (looked for next to the compiler, then on PATH)
    folders: tuple = ()      # more folders to look in after PATH ("~" is the user's home)
    example: str = ""        # the peer named first in messages

    @property
    def tool(self) -> str:
        return self.called or f"{self.title} compiler"

    @property
    def programs(self) -> tuple:
        """The peers of this language: the stems of the source files in its folder, sorted."""
        folder = SOURCES / self.language
        if not folder.is_dir():
            return ()
        return tuple(sorted(path.stem for path in folder.iterdir()
                            if path.suffix == self.suffix and path.is_file() and not path.name.startswith((".", "_"))))

    def source(self, name: str) -> Path:
        """The source file of peer `name`."""
        names = self.programs
        if not isinstance(name, str) or name not in names:
            # The example first: the peer every older message named, then the rest as found.
            shown = sorted(names, key=lambda known: known != self.example)
            listed = ", ".join(map(repr, shown)) or "(none: the folder is empty)"
            raise ArgumentError(f"There is no {self.title} peer called {name!r}; expected one of {listed}, the "
                                f"{self.suffix} files in {SOURCES / self.language}.")
        return SOURCES / self.language / f"{name}{self.suffix}"


C = Toolchain(
    language="c", title="C", env="CC", candidates=("cc", "gcc", "clang"), suffix=".c",
    # Optimised like a release build, every warning a careful C programmer turns on.
    flags=("-O2", "-Wall", "-Wextra", "-std=c11"),
    build=("{compiler}", "{flags}", "-o", "{program}", "{source}"),
    run=("{program}",),
    install="install one, for example with 'apt-get install gcc' on Debian or Ubuntu, or with "
            "'xcode-select --install' on macOS",
    example="pingpong",
)

JAVA = Toolchain(
    language="java", title="Java", env="JAVAC", candidates=("javac",), suffix=".java",
    # javac is itself a Java program: the same start-up flags as the peers' (below) make a
    # one-file build about a fifth quicker.
    flags=("-J-XX:+UseSerialGC", "-J-XX:TieredStopAtLevel=1", "-J-XX:-UsePerfData", "-encoding", "UTF-8"),
    build=("{compiler}", "{flags}", "-d", "{folder}", "{source}"),
    # A peer is a small program started often: the serial collector and the first JIT tier
    # start it in about half the time of the defaults, the shared class archive saves more,
    # and without perf data the JVM writes no file to /tmp for each run.
    run=("{runtime}", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xshare:auto", "-XX:-UsePerfData",
         "-cp", "{folder}", "{name}"),
    program="{folder}/{name}.class",
    runtime=("java",),
    install="install a JDK, for example with 'apt-get install default-jdk-headless' on Debian or Ubuntu, "
            "or with 'brew install openjdk' on macOS",
    example="UtfEchoServer",
)

RUST = Toolchain(
    language="rust", title="Rust", env="RUSTC", candidates=("rustc",), suffix=".rs",
    flags=("-O", "--edition", "2021"),
    build=("{compiler}", "{flags}", "-o", "{program}", "{source}"),
    run=("{program}",),
    folders=("~/.cargo/bin",),  # where rustup puts it, often not on a notebook's PATH
    install="install it, for example with 'apt-get install rustc' on Debian or Ubuntu, with rustup "
            "(https://rustup.rs), or with 'brew install rust' on macOS",
    example="echo_server",
)

NODE = Toolchain(
    language="node", title="JavaScript", env="NODE", candidates=("node", "nodejs"), suffix=".js",
    called="Node.js runtime", verb="check",
    flags=(),
    build=("{compiler}", "--check", "{source}"),  # a syntax check: JavaScript has no compile step to run
    run=("{runtime}", "{program}"),
    program="{folder}/{name}{suffix}", copies_source=True,
    runtime=("node", "nodejs"),
    install="install Node.js, for example with 'apt-get install nodejs' on Debian or Ubuntu, "
            "or with 'brew install node' on macOS",
    example="echo_server",
)

#: Every toolchain the course knows, by language.
TOOLCHAINS = {toolchain.language: toolchain for toolchain in (C, JAVA, RUST, NODE)}

# Old names of the C-only module this was (peers/cbuild.py).
C_PROGRAMS = C.programs
CFLAGS = C.flags


def toolchain(language: str) -> Toolchain:
    """The record of `language` ("c", "java", "rust" or "node")."""
    return TOOLCHAINS[check_choice(language, "language", TOOLCHAINS, example="c")]


def programs(language: str) -> tuple:
    """The names of the peers of `language` found in src/<language>/, sorted."""
    return toolchain(language).programs


# -- finding the tools ---------------------------------------------------------------------
def _which(name: str, chain: Toolchain) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for folder in chain.folders:
        found = shutil.which(name, path=os.path.expanduser(folder))
        if found:
            return found
    return None


def find(language: str = "c") -> list[str] | None:
    """The command of this machine's compiler for `language`, or None if it has none.

    The language's environment variable ($CC for C) wins when it names a
    program on PATH (or a path to one), as it does for make.
    """
    chain = toolchain(language)
    named = os.environ.get(chain.env) if chain.env else None
    if named:
        try:
            words = shlex.split(named)
        except ValueError:  # unbalanced quotes: as good as no $CC, so the usual names are tried
            words = []
        if words and _which(words[0], chain):
            return [_which(words[0], chain), *words[1:]]
    for candidate in chain.candidates:
        found = _which(candidate, chain)
        if found:
            return [found]
    return None


def compiler() -> list[str] | None:
    """The command of this machine's C compiler, or None if it has none."""
    return find("c")


def find_runtime(language: str, compiler_words: list[str] | None = None) -> str | None:
    """The program that runs what `language`'s compiler builds (java, node), or None; "" if none is needed.

    It is looked for next to the compiler first (a JDK's java beside its
    javac, so the two always match), then on PATH.
    """
    chain = toolchain(language)
    if not chain.runtime:
        return ""
    words = compiler_words if compiler_words is not None else find(language)
    beside = []
    if words:
        beside = [os.path.dirname(words[0]), os.path.dirname(os.path.realpath(words[0]))]
    for name in chain.runtime:
        for folder in beside:
            found = shutil.which(name, path=folder)
            if found:
                return found
    for name in chain.runtime:
        found = _which(name, chain)
        if found:
            return found
    return None


def _tried(chain: Toolchain) -> str:
    names = [f"${chain.env}"] if chain.env else []
    names += list(chain.candidates)
    names += [f"{folder}/{chain.candidates[0]}" for folder in chain.folders]
    return ", ".join(names)


def missing(language: str) -> str | None:
    """None when `language` can be built and run here; else one sentence: what was tried, what to install."""
    chain = toolchain(language)
    words = find(language)
    if words is None:
        return f"No {chain.tool} was found (tried {_tried(chain)}); {chain.install}."
    if find_runtime(language, words) is None:
        runtimes = ", ".join(chain.runtime)
        return (f"A {chain.tool} was found ({words[0]}), but no program to run what it builds (tried "
                f"{runtimes} next to it and on PATH); {chain.install}.")
    return None


# -- the cache ------------------------------------------------------------------------------
def _inside_repository(path: Path) -> bool:
    if not (REPOSITORY / "pyproject.toml").is_file():
        return False  # installed as a package: there is no checkout to keep clean
    try:
        path.resolve().relative_to(REPOSITORY)
        return True
    except ValueError:
        return False


def cache_dir() -> Path:
    """The folder of built peers: $SOCKCOURSE_CACHE, else $XDG_CACHE_HOME/sockcourse, else ~/.cache/sockcourse.

    Never inside the course's own checkout (on Binder the home folder is the
    checkout): there, a private folder in the temporary directory is used.
    """
    named = os.environ.get(CACHE_ENV)
    if named:
        folder = Path(os.path.expanduser(named))
        if _inside_repository(folder):
            raise ArgumentError(f"${CACHE_ENV}={named!r} is inside the course's own folder {REPOSITORY}, where "
                                f"built programs must not land; point it elsewhere, for example at "
                                f"~/.cache/sockcourse.")
        return folder
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    folder = Path(base) / "sockcourse"
    if not _inside_repository(folder):
        return folder
    uid = os.getuid() if hasattr(os, "getuid") else "user"
    return Path(tempfile.gettempdir()) / f"sockcourse-cache-{uid}"


def _private_folder(folder: Path) -> Path:
    """Make `folder` (and its parents) if needed; refuse one that others could write programs into."""
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        info = folder.stat()
    except OSError as exc:
        raise BuildError(f"The build cache folder {str(folder)!r} could not be made ({exc.strerror or exc}); "
                         f"set ${CACHE_ENV} to a folder you may write, for example ~/.cache/sockcourse.") from None
    if hasattr(os, "getuid") and (info.st_uid != os.getuid() or info.st_mode & 0o022):
        raise BuildError(f"The build cache folder {str(folder)!r} belongs to another user or may be written by "
                         f"others, so a program in it could be someone else's; set ${CACHE_ENV} to a folder "
                         f"of your own.")
    return folder


def _cache_key(chain: Toolchain, name: str, code: bytes, words: list[str]) -> str:
    real = os.path.realpath(words[0])
    info = os.stat(real)
    recipe = [CACHE_FORMAT, chain.language, name, list(chain.build), list(chain.flags), chain.program,
              chain.copies_source, list(words), real, info.st_size, info.st_mtime_ns]
    digest = hashlib.sha256(json.dumps(recipe).encode())
    digest.update(b"\0")
    digest.update(code)
    return digest.hexdigest()[:16]


@contextlib.contextmanager
def _lock(path: Path):
    """Hold an exclusive lock on `path` for the block, waiting at most LOCK_TIMEOUT for it."""
    if fcntl is None:
        yield
        return
    handle = open(path, "a+b")
    try:
        deadline = time.monotonic() + LOCK_TIMEOUT
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise BuildError(f"Another process has been building {path.stem.lstrip('.')} for more than "
                                     f"{LOCK_TIMEOUT:.0f} s; wait for it, or remove {path} if no build runs.") from None
                time.sleep(0.05)
        yield
    finally:
        handle.close()  # closing releases the lock


# -- building -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Built:
    """A built peer: where its program is, and the words that run it.

    program: the executable (C, Rust), the class file (Java) or the checked
    script (Node); argv_prefix: the command line before the peer's own
    arguments; cached: found built, no compiler ran; seconds: what it took.
    """

    language: str
    name: str
    program: Path
    argv_prefix: tuple
    cached: bool
    seconds: float

    @property
    def folder(self) -> Path:
        return self.program.parent

    def command(self, *args) -> list[str]:
        """The argument list that runs the peer with `args` after it, ready for subprocess."""
        return [*self.argv_prefix, *(os.fspath(a) if isinstance(a, os.PathLike) else str(a) for a in args)]


def _fill(template: tuple, **values) -> list[str]:
    words = []
    for word in template:
        if word in ("{compiler}", "{flags}"):
            words.extend(values[word.strip("{}")])
        else:
            words.append(word.format(**values))
    return words


def _quote(said: str) -> str:
    lines = [line[:200] for line in said.strip().splitlines()]
    shown = "\n".join(lines[:QUOTED_LINES])[:QUOTED]
    more = len(lines) - QUOTED_LINES
    return shown + (f"\n(and {more} more lines)" if more > 0 else "")


def _compile(chain: Toolchain, words: list[str], code: Path, name: str, folder: Path) -> None:
    """Run the compiler on `code`, leaving its program in `folder`; a BuildError sentence if it refuses."""
    program = _fill((chain.program,), folder=str(folder), name=name, suffix=chain.suffix)[0]
    argv = _fill(chain.build, compiler=words, flags=chain.flags, program=program, source=str(code),
                 folder=str(folder), name=name, suffix=chain.suffix)
    try:
        # Run in the build folder, so that nothing in the caller's folder (a stray .class file,
        # say) takes part in the build.
        done = subprocess.run(argv, capture_output=True, text=True, errors="replace", timeout=BUILD_TIMEOUT,
                              stdin=subprocess.DEVNULL, cwd=folder)
    except subprocess.TimeoutExpired:
        raise BuildError(f"The {chain.tool} took longer than {BUILD_TIMEOUT:.0f} s to {chain.verb} "
                         f"{code.name}; the machine may be overloaded, try again.") from None
    except OSError as exc:
        raise BuildError(f"The {chain.tool} {words[0]!r} could not be started ({exc.strerror or exc}); "
                         f"{chain.install}.") from None
    if done.returncode != 0:
        said = (done.stderr or done.stdout).strip()
        quoted = f"it said:\n{_quote(said)}" if said else "it printed nothing."
        hint = f" (is ${chain.env}={os.environ[chain.env]!r} a compiler?)" if chain.env in os.environ else ""
        raise BuildError(f"The {chain.tool} ({words[0]}) could not {chain.verb} {code.name}: it exited "
                         f"with code {done.returncode}{hint}, and {quoted}")
    if chain.copies_source:
        shutil.copyfile(code, program)
    if not os.path.exists(program):
        raise BuildError(f"The {chain.tool} ({words[0]}) said it built {code.name}, but {program} is not there; "
                         f"does the file's main class or name match its file name {code.stem!r}?")


def _built(chain: Toolchain, name: str, folder: Path, runtime: str, cached: bool, seconds: float) -> Built:
    program = Path(_fill((chain.program,), folder=str(folder), name=name, suffix=chain.suffix)[0])
    prefix = _fill(chain.run, program=str(program), folder=str(folder), name=name, suffix=chain.suffix,
                   runtime=runtime, compiler=(), flags=())
    return Built(chain.language, name, program, tuple(prefix), cached, seconds)


def build_file(path, language: str, *, name: str | None = None) -> Built:
    """Build any one source file of `language` into the cache (as `build()` does for the course's peers).

    For a test's or a learner's own small program; `name` defaults to the file's stem.
    """
    chain = toolchain(language)
    path = Path(check_path(path, "source file", example=f"'server{chain.suffix}'", exists=True,
                           hint=f"give the path of one {chain.title} source file"))
    if name is None:
        name = path.stem
    if not isinstance(name, str):
        raise ArgumentTypeError(f"A peer's name must be a string such as 'echo_server', but got {name!r}.")
    if not name or os.sep in name or "/" in name or name.startswith("."):
        raise ArgumentError(f"A peer's name must be a plain file stem such as 'echo_server', but got {name!r}.")
    return _build(chain, name, path)


def build(name: str, language: str) -> Built:
    """Build peer `name` of `language` (a file in src/<language>/), or find it built; return a `Built`.

    Raises Unavailable (a BuildError) when the toolchain is missing, and a
    BuildError that quotes the compiler when it refuses the source.
    """
    chain = toolchain(language)
    return _build(chain, name, chain.source(name))


def _complete(chain: Toolchain, name: str, folder: Path) -> bool:
    """True when `folder` holds a finished build (it only ever appears whole, by rename)."""
    return os.path.isfile(_fill((chain.program,), folder=str(folder), name=name, suffix=chain.suffix)[0])


def _build(chain: Toolchain, name: str, code_path: Path) -> Built:
    started = time.perf_counter()
    words = find(chain.language)
    runtime = find_runtime(chain.language, words) if words else None
    if words is None or runtime is None:
        raise Unavailable(missing(chain.language))
    code = code_path.read_bytes()
    key = _cache_key(chain, name, code, words)
    parent = _private_folder(_private_folder(cache_dir()) / chain.language)
    final = parent / f"{name}-{key}"
    if _complete(chain, name, final):
        return _built(chain, name, final, runtime, True, time.perf_counter() - started)
    with _lock(parent / f".{name}-{key}.lock"):
        if _complete(chain, name, final):  # another process built it while this one waited
            return _built(chain, name, final, runtime, True, time.perf_counter() - started)
        if final.exists():  # a folder someone emptied by hand: built again below
            shutil.rmtree(final, ignore_errors=True)
        scratch = Path(tempfile.mkdtemp(prefix=f".{name}-{key}-", dir=parent))
        try:
            _compile(chain, words, code_path, name, scratch)
            try:
                os.rename(scratch, final)
            except OSError:
                if not final.is_dir():  # not the lost race that a lock-less system could have
                    raise
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    return _built(chain, name, final, runtime, False, time.perf_counter() - started)


def build_all(languages=None) -> list[Built]:
    """Build every peer of `languages` (all four if None) whose toolchain is here; the list of what was built.

    For a notebook's first cell or an image's build step, so later cells find
    everything built. A language whose toolchain is missing is passed over;
    a source that does not build raises its BuildError.
    """
    chosen = TOOLCHAINS if languages is None else [toolchain(language).language for language in languages]
    return [build(name, language) for language in chosen if missing(language) is None
            for name in programs(language)]


# -- the older API, kept for bench ------------------------------------------------------------------
def source(name: str, language: str = "c") -> Path:
    """The path of the source of peer `name` in `language`."""
    return toolchain(language).source(name)


@contextlib.contextmanager
def built(name: str = "pingpong", language: str = "c"):
    """Build peer `name` (cached), copy it into a private temporary folder and yield the program's path.

    The folder is removed at the end of the block, so the measurements that
    use it leave nothing behind, and may modify their copy as they like.
    """
    done = build(name, language)
    folder = tempfile.mkdtemp(prefix=f"sockcourse-{done.language}-")
    try:
        for item in done.folder.iterdir():
            shutil.copy2(item, folder)
        yield os.path.join(folder, done.program.name)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def run_command(program: str, *args, language: str = "c", name: str = "") -> list[str]:
    """The argument list that runs a program `built()` made, with `args` after it."""
    chain = toolchain(language)
    stem = name or Path(program).stem
    return [*_fill(chain.run, program=program, folder=os.path.dirname(program), name=stem, suffix=chain.suffix,
                   runtime=find_runtime(language) or "", source="", compiler=(), flags=()), *map(str, args)]
