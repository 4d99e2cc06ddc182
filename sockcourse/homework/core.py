"""What every homework check is made of: questions, conditions, verdicts and results as plain data.

A chapter's module (`ch01`, ...) builds `Question`s and gives each a list
of named conditions, from easy to adversarial. `check.q1(read_frames)` runs
the student's object under every public condition, each in a fresh `Ctx`
that owns the sockets, servers and links the condition opens and closes
them all when it ends, pass or fail. Each condition returns a `Verdict`;
the question collects them into a `Result`, which is plain data
(`to_dict()`) and shows itself as a short text report: one line per
condition, and for the first failure only what was sent, what was
expected, what came back, one hint and the line that replays it.

The student's code runs in a worker thread with a deadline (`Ctx.call`), so
a `recv()` that waits forever ends when the check closes its own sockets,
and a loop that never ends is abandoned and reported, never waited for.
A check never raises into the notebook cell, except KeyboardInterrupt, so
that the notebook's stop button still works.

For the grader there is a recording mode: `check.q1(obj)` then only notes
which object the student meant and runs nothing; the grader's own cell runs
the graded check afterwards (`Question.run`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import gc
import inspect
import linecache
import os
import random
import shutil
import socket
import sys
import sysconfig
import tempfile
import threading
import time
import traceback
import warnings
import weakref
from pathlib import Path

from ..core.addresses import family_for
from ..core.binding import open_socket
from ..core.errors import ArgumentError, describe
from ..core.lifecycle import running
from ..link import link as start_link
from ..servers.threaded import serve as start_server

#: Seconds one condition may take, unless it says otherwise.
DEFAULT_BUDGET = 3.0
#: Seconds a whole check may take; the conditions after that are "not run".
CHECK_BUDGET = 60.0
#: Seconds the check waits, after closing its sockets, for student code to notice.
WAKE_GRACE = 0.5
#: After this many conditions that ran out of time, the rest of a check is not run (each would wait too).
MAX_TIMEOUTS = 2
#: The longest text of bytes a report quotes before it cuts them short.
QUOTE_LIMIT = 80

PACKAGE_DIR = str(Path(__file__).resolve().parents[1])
STDLIB_DIR = sysconfig.get_paths()["stdlib"]

KINDS = ("function", "handler", "class", "async")
STATUSES = ("passed", "partial", "failed", "not-attempted", "wrong-type", "error")
CONDITION_STATUSES = ("passed", "failed", "skipped", "not-run", "error")


# -- what a condition returns ------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Verdict:
    """What one condition found: passed (True), failed (False) or skipped (None), and why."""

    passed: bool | None
    message: str = ""
    hint: str | None = None
    evidence: dict = dataclasses.field(default_factory=dict)


def passed(message: str = "") -> Verdict:
    """The condition holds; `message` may add what was measured."""
    return Verdict(True, message)


def failed(message: str, *, hint: str, sent=None, expected=None, got=None, **evidence) -> Verdict:
    """The condition does not hold: say what happened in `message`, and name the hint that helps."""
    shown = {key: text(value) for key, value in
             (("sent", sent), ("expected", expected), ("got", got), *evidence.items()) if value is not None}
    return Verdict(False, message, hint, shown)


def skipped(sentence: str) -> Verdict:
    """This machine cannot run the condition; the sentence says why (it counts for nobody)."""
    return Verdict(None, sentence)


def text(value) -> str:
    """A short, readable text of a value for a report: long bytes are cut in the middle."""
    if isinstance(value, str):
        return value
    shown = repr(value)
    if len(shown) > QUOTE_LIMIT:
        size = f" ({len(value):,} long)" if isinstance(value, (bytes, bytearray, list, tuple, dict)) else ""
        shown = f"{shown[:QUOTE_LIMIT - 25]} ... {shown[-20:]}{size}"
    return shown


class HalfWritten(Exception):
    """A helper beside the answer still raises NotImplementedError: the answer is half written, not 'not attempted'."""


def unless_stub(function):
    """`function`, with its NotImplementedError turned into HalfWritten.

    For the second function of a two-part answer (read_utf beside write_utf):
    its stub must count as a mistake of a started answer, not end the check as
    "not attempted yet".
    """
    def call(*args):
        try:
            return function(*args)
        except NotImplementedError:
            raise HalfWritten() from None
    return call


def plural(count: int, word: str, many: str | None = None) -> str:
    """'1 condition', '3 conditions': a count with its noun in the right number."""
    return f"{count:,} {word if count == 1 else many or word + 's'}"


class NotAttempted(Exception):
    """The student's code raised NotImplementedError: the stub has not been replaced yet."""


# -- running student code ----------------------------------------------------------------
@dataclasses.dataclass
class Outcome:
    """How a call into student code ended: returned, raised, blocked, or still running."""

    kind: str
    value: object = None
    error: BaseException | None = None
    seconds: float = 0.0
    where: str = ""

    @property
    def returned(self) -> bool:
        return self.kind == "returned"

    @property
    def raised(self) -> bool:
        return self.kind == "raised"

    def text(self) -> str:
        """One line for a report: what the student's code did."""
        if self.kind == "returned":
            # repr for a str too: 'True' the text must not read as True the value
            return f"returned {repr(self.value) if isinstance(self.value, str) else text(self.value)}"
        if self.kind == "raised":
            at = f" at {self.where}" if self.where else ""
            return f"raised {describe(self.error)}{at}"
        if self.kind == "blocked":
            at = f" (last seen at {self.where})" if self.where else ""
            return f"was still waiting after {self.seconds:.1f} s{at}; it ended only when the check closed its sockets"
        return f"was still running after {self.seconds:.1f} s, so the check stopped waiting for it"


def student_line(tb) -> str:
    """'line N: code' of the deepest frame that is the student's (not the course's, not Python's)."""
    found = ""
    for frame, line in traceback.walk_tb(tb):
        name = frame.f_code.co_filename
        if name.startswith(PACKAGE_DIR) or name.startswith(STDLIB_DIR) or "site-packages" in name:
            continue
        code = linecache.getline(name, line, frame.f_globals).strip()
        found = f"line {line} of {frame.f_code.co_name}: {code}" if code else f"line {line} of {frame.f_code.co_name}"
    return found


def _frame_line(thread: threading.Thread) -> str:
    """Where a still-running thread is now, as student_line says it, if it is in student code."""
    frame = sys._current_frames().get(thread.ident)
    found = ""
    while frame is not None:
        name = frame.f_code.co_filename
        if not (name.startswith(PACKAGE_DIR) or name.startswith(STDLIB_DIR) or "site-packages" in name):
            code = linecache.getline(name, frame.f_lineno, frame.f_globals).strip()
            found = found or f"line {frame.f_lineno} of {frame.f_code.co_name}: {code}"
        frame = frame.f_back
    return found


# -- the context of one condition -------------------------------------------------------------
class Ctx:
    """What one condition may use; everything it opens is closed when the condition ends."""

    def __init__(self, question: "Question", condition: "Condition", *, seed: int, graded: bool,
                 verbose: bool = False):
        self.question, self.condition = question, condition
        self.seed, self.graded, self.verbose = seed, graded, verbose
        self.budget = condition.budget
        self.rng = random.Random(f"sockcourse-homework:{seed}:{question.chapter}:{question.id}:{condition.id}")
        self._owned: list = []
        self._watches: list = []
        self._servers: list = []
        self._links: list = []
        self.notes: list[str] = []
        self.not_attempted = False
        self.abandoned = False
        self.timed_out = False
        self._tmpdir: str | None = None

    # -- resources -------------------------------------------------------------------
    def own(self, thing):
        """Take `thing` (a socket, a server, a link, anything with close() or stop()); return it."""
        self._owned.append(thing)
        return thing

    @property
    def tmpdir(self) -> str:
        """A private directory for this condition (UNIX socket files, say); removed at the end."""
        if self._tmpdir is None:
            self._tmpdir = tempfile.mkdtemp(prefix="sockcourse-hw-")
        return self._tmpdir

    def serve(self, handler, **options):
        """sockcourse.serve() for `handler`, owned by this condition; student errors are kept, not raised."""
        return self.adopt(start_server(self.wrap(handler), **options))

    def adopt(self, server):
        """Own a server the condition started itself (serve_async, say); a replay shows its trace too."""
        self._servers.append(server)
        return self.own(server)

    def link(self, to, **settings):
        """A fault-injecting link in front of `to`, owned by this condition, seeded from its seed."""
        settings.setdefault("seed", self.rng.randrange(2 ** 31))
        relay = start_link(to, **settings)
        self._links.append(relay)
        return self.own(relay)

    def listener(self, host: str = "127.0.0.1") -> socket.socket:
        """A listening TCP socket on loopback, port 0, owned by this condition."""
        sock = self.own(open_socket(family_for(host), socket.SOCK_STREAM, host=host, port=0, backlog=16,
                                    what="the check's listener").sock)
        sock.settimeout(self.budget)
        return sock

    def pair(self, link: dict | None = None, host: str = "127.0.0.1") -> tuple[socket.socket, socket.socket]:
        """Two connected TCP sockets (peer, mine): the check writes on peer, the student's code gets mine.

        With `link`, the connection runs through a sockcourse.link with those
        settings, so what peer sends reaches mine in the pieces and at the
        times the link decides. `host` is the loopback address to use ("::1"
        for IPv6).
        """
        listener = self.listener(host)
        target = listener.getsockname()[:2]
        if link is not None:
            target = self.link(target, **link).address
        mine = self.own(socket.create_connection(target, timeout=self.budget))
        peer, _ = listener.accept()
        self.own(peer)
        mine.settimeout(None)  # the student's code decides its own timeouts
        peer.settimeout(self.budget)
        return peer, mine

    def wrap(self, function):
        """`function` as the check calls it from a server's thread: a NotImplementedError marks the stub."""
        ctx = self

        if inspect.iscoroutinefunction(function):
            async def wrapped(*args, **kwargs):
                try:
                    return await function(*args, **kwargs)
                except NotImplementedError:
                    ctx.not_attempted = True
                    raise
        else:
            def wrapped(*args, **kwargs):
                try:
                    return function(*args, **kwargs)
                except NotImplementedError:
                    ctx.not_attempted = True
                    raise
        # The server checks how many arguments a handler takes; it must see the student's.
        return functools.wraps(function)(wrapped)

    def watch_connects(self, port: int) -> list:
        """From now until the condition ends, note every socket of this process that connects to `port`.

        Returns the list it fills (weak references), so a condition can ask
        afterwards whether the student's code closed what it opened. It rides
        on the interpreter's audit event "socket.connect", which sees every
        connect(), whoever makes it.
        """
        _install_connect_watch()
        found: list = []
        with _watch_lock:
            _watched.setdefault(port, []).append(found)
        self._watches.append((port, found))
        return found

    def handler_errors(self) -> list[BaseException]:
        """The exceptions the student's handlers raised so far, in every server this condition runs."""
        return [exc for server in self._servers for exc in server.errors]

    def note(self, sentence: str) -> None:
        """A remark for the report that does not change the verdict."""
        self.notes.append(sentence)

    # -- calling student code ---------------------------------------------------------------
    def call(self, function, *args, budget: float | None = None, **kwargs) -> Outcome:
        """Run student code in a worker thread, waiting at most `budget` seconds (the condition's own).

        At the deadline the check shuts down every socket it owns, which wakes
        a recv() or accept() that would wait forever; code that still does not
        return is abandoned in the background (threads cannot be killed).
        """
        budget = self.budget if budget is None else budget
        box: dict = {}

        def work():
            started = time.monotonic()
            try:
                box["value"] = function(*args, **kwargs)
                box["kind"] = "returned"
            except BaseException as exc:  # noqa: BLE001 - the student's error is the report's subject
                box["kind"], box["error"] = "raised", exc
                box["where"] = student_line(exc.__traceback__)
            box["seconds"] = time.monotonic() - started

        worker = threading.Thread(target=work, name=f"homework-{self.question.id}-{self.condition.id}", daemon=True)
        started = time.monotonic()
        worker.start()
        worker.join(budget)
        if worker.is_alive():
            self.timed_out = True
            where = _frame_line(worker)
            self.shut_sockets()
            # The student's own sockets are out of reach, but their peers are ours:
            # stopping the servers and links ends those connections too.
            self.stop_peers()
            worker.join(WAKE_GRACE)
            if worker.is_alive():
                self.abandoned = True
                return Outcome("still-running", seconds=time.monotonic() - started, where=_frame_line(worker) or where)
            return Outcome("blocked", seconds=budget, where=where, error=box.get("error"))
        outcome = Outcome(box["kind"], box.get("value"), box.get("error"), box["seconds"], box.get("where", ""))
        if outcome.raised and isinstance(outcome.error, NotImplementedError):
            self.not_attempted = True
            raise NotAttempted()
        return outcome

    def shut_sockets(self) -> None:
        """Shut down (not yet close) every socket the condition owns: wakes whoever waits on them."""
        for thing in self._owned:
            if isinstance(thing, socket.socket):
                with contextlib.suppress(OSError):
                    thing.shutdown(socket.SHUT_RDWR)

    def stop_peers(self) -> None:
        """Stop every server and link the condition owns (they stay owned; stop() is safe twice)."""
        for thing in reversed(self._owned):
            if hasattr(thing, "stop"):
                with contextlib.suppress(Exception):
                    thing.stop(timeout=1.0)

    # -- the end ---------------------------------------------------------------------------
    def replay_text(self) -> str:
        """The links' hops and the servers' traces, for a verbose replay."""
        lines = []
        for relay in self._links:
            rows = relay.rows()
            lines.append(f"the link's record ({len(rows)} hops):")
            for row in rows[:60]:
                lines.append(f"  {row['t']:8.4f} s  {row['direction']:9}  conn {row['conn']}  {row['action']:9} "
                             f"{row['nbytes']:6} bytes  {text(row['data'])}")
            if len(rows) > 60:
                lines.append(f"  ... and {len(rows) - 60} more")
        for server in self._servers:
            lines.append("the server's trace:")
            lines.extend("  " + line for line in server.trace.to_text().splitlines()[:60])
        return "\n".join(lines)

    def close(self) -> None:
        """Close and stop everything this condition owns, newest first; student errors were kept already."""
        for thing in reversed(self._owned):
            with contextlib.suppress(Exception):
                if hasattr(thing, "stop"):
                    thing.stop(timeout=2.0)
                else:
                    thing.close()
        self._owned.clear()
        with _watch_lock:
            for port, found in self._watches:
                lists = _watched.get(port, [])
                if found in lists:
                    lists.remove(found)
                if not lists:
                    _watched.pop(port, None)
        self._watches.clear()
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)


#: Ports whose connects are being noted, each with the lists of the conditions that watch it.
_watched: dict = {}
_watch_lock = threading.Lock()
_watch_installed = False


def _install_connect_watch() -> None:
    """Install, once per process, the audit hook behind Ctx.watch_connects (hooks cannot be removed)."""
    global _watch_installed
    with _watch_lock:
        if _watch_installed:
            return
        _watch_installed = True
    sys.addaudithook(_note_connect)


def _note_connect(event: str, args: tuple) -> None:
    if event != "socket.connect" or not _watched:
        return
    sock, address = args[0], args[1]
    if isinstance(address, tuple) and len(address) >= 2:
        with _watch_lock:
            for found in _watched.get(address[1], ()):
                found.append(weakref.ref(sock))


def still_open(found: list) -> list:
    """The sockets among `found` (from watch_connects) that are still open."""
    alive = [ref() for ref in found]
    return [sock for sock in alive if sock is not None and sock.fileno() != -1]


# -- questions and their conditions ------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Condition:
    """One named situation the student's code must handle."""

    id: str
    title: str
    run: object
    points: int = 1
    graded_only: bool = False
    budget: float = DEFAULT_BUDGET


@dataclasses.dataclass
class ConditionResult:
    """How one condition went, as plain data."""

    id: str
    title: str
    points: int
    max: int
    status: str
    message: str = ""
    hint_id: str | None = None
    hint: str | None = None
    evidence: dict = dataclasses.field(default_factory=dict)
    seconds: float = 0.0
    #: The student's code blocked or kept running past the condition's budget.
    timed_out: bool = False

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class Result:
    """What one check found, as plain data; it shows itself as the report."""

    chapter: str
    question: str
    answer: str
    title: str
    status: str
    score: int
    max: int
    conditions: list
    notes: list
    seconds: float
    graded: bool
    seed: int
    message: str = ""
    #: Only some conditions ran (a replay, or `only=`): the report then speaks of those alone.
    selected: bool = False

    def to_dict(self) -> dict:
        data = dataclasses.asdict(self)
        data["conditions"] = [c.to_dict() for c in self.conditions]
        return data

    def failed_ids(self) -> list[str]:
        """The ids of the conditions that failed, in the order they ran."""
        return [c.id for c in self.conditions if c.status in ("failed", "error")]

    def hint_ids(self) -> list[str]:
        """The full ids of the hints of every failed condition, in order."""
        return [c.hint_id for c in self.conditions if c.status == "failed" and c.hint_id]

    def assert_passed(self) -> None:
        """Raise AssertionError, with the report, unless every point was earned."""
        if self.score != self.max or self.status != "passed":
            raise AssertionError(self.text())

    def text(self) -> str:
        """The report a student reads."""
        mark = {"passed": "✔", "not-attempted": "·"}.get(self.status, "✘")
        head = f"{mark} {self.question} {self.answer}"
        if self.status in ("not-attempted", "wrong-type", "error"):
            return "\n".join([f"{head} · {self.message}", *(f"  note: {n}" for n in self.notes)])
        ran = [c for c in self.conditions if c.status != "skipped"]
        good = sum(c.status == "passed" for c in ran)
        lines = [f"{head} · {good} of {plural(len(ran), 'condition')} passed ({self.score}/{plural(self.max, 'point')})"]
        first = True
        for c in self.conditions:
            sign = {"passed": "✔", "skipped": "-", "not-run": "·"}.get(c.status, "✘")
            tail = f"   ({c.message})" if c.message and (c.status != "failed" or not first) else ""
            lines.append(f"  {sign} {c.title}{tail}")
            if c.status in ("failed", "error") and first:
                first = False
                if c.message:
                    lines.append(f"      what      {c.message}")
                for key in ("sent", "expected", "got"):
                    if key in c.evidence:
                        lines.append(f"      {key:9} {c.evidence[key]}")
                for key, value in c.evidence.items():
                    if key not in ("sent", "expected", "got", "replay"):
                        lines.append(f"      {key:9} {value}")
                if c.hint:
                    lines.extend(_indent("hint", c.hint))
                lines.append(f"      replay    check.{self.question}.replay({self.answer}, {c.id!r})")
            if "replay" in c.evidence:
                lines.extend("      " + line for line in c.evidence["replay"].splitlines())
        lines.extend(f"  note: {n}" for n in self.notes)
        if not self.graded and not self.selected:
            hidden = [c for c in QUESTIONS_BY_KEY[(self.chapter, self.question)].conditions if c.graded_only]
            if hidden:
                names = ", ".join(f'"{c.title}"' for c in hidden)
                lines.append(f"  These were the public checks. The grader runs them again with other sizes and seeds, "
                             f"plus {len(hidden)} more: {names}.")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.text()

    def _repr_pretty_(self, printer, cycle) -> None:
        printer.text(self.text())


def _indent(label: str, sentence: str, width: int = 88) -> list[str]:
    """The hint wrapped into lines, the first with its label."""
    words, lines, line = sentence.split(), [], ""
    for word in words:
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    if line:
        lines.append(line)
    return [f"      {label if i == 0 else '':9} {part}" for i, part in enumerate(lines)]


#: Every question by (chapter, id), so a Result can name its graded-only conditions.
QUESTIONS_BY_KEY: dict = {}

_recording: dict | None = None


def start_recording() -> None:
    """Grading mode: from now on a check cell only notes which object it was given."""
    global _recording
    _recording = {}


def stop_recording() -> None:
    """Back to running checks for real."""
    global _recording
    _recording = None


def recorded() -> dict:
    """In grading mode, the object each question's check cell was given last, by question id."""
    return dict(_recording or {})


if os.environ.get("SOCKCOURSE_GRADING") == "1":
    start_recording()


class Question:
    """One exercise: the object a student writes, and the conditions it is checked under."""

    def __init__(self, chapter: str, id: str, *, answer: str, title: str, kind: str = "function",
                 section: str = ""):
        if kind not in KINDS:
            raise ArgumentError(f"A question's kind must be one of {', '.join(KINDS)}, not {kind!r}.")
        self.chapter, self.id, self.answer, self.title, self.kind = chapter, id, answer, title, kind
        self.section = section
        self.conditions: list[Condition] = []
        self.hints: dict[str, str] = {}
        QUESTIONS_BY_KEY[(chapter, id)] = self

    def __repr__(self) -> str:
        return f"<homework question {self.chapter} {self.id}: {self.answer}, {len(self.conditions)} conditions>"

    # -- building ---------------------------------------------------------------------------
    def hint(self, short: str, sentence: str) -> None:
        """Add a hint; conditions name it by `short`; its full id is chNN.qN.short."""
        self.hints[short] = sentence

    def hint_id(self, short: str) -> str:
        return f"ch{self.chapter[:2]}.{self.id}.{short}"

    def condition(self, id: str, title: str, *, points: int = 1, graded_only: bool = False,
                  budget: float = DEFAULT_BUDGET):
        """Decorator: register `run(student, ctx) -> Verdict` as a named condition."""
        def register(run):
            self.conditions.append(Condition(id, title, run, points, graded_only, budget))
            return run
        return register

    def max_points(self, graded: bool = False) -> int:
        return sum(c.points for c in self.conditions if graded or not c.graded_only)

    # -- running ---------------------------------------------------------------------------------
    def __call__(self, obj=None, *, graded: bool = False, seed: int | None = None, only: str | None = None,
                 quiet: bool = False):
        """Check `obj` (the student's function, handler or class) and return the Result.

        In grading mode this only notes `obj` for the grader and returns None.
        """
        if _recording is not None:
            _recording[self.id] = obj
            return None
        return self.run(obj, graded=graded, seed=seed, only=only)

    def replay(self, obj, condition_id: str, *, graded: bool = False, seed: int | None = None):
        """Run one condition again, verbosely: the link's hops and the server's trace are shown too."""
        return self.run(obj, graded=graded, seed=seed, only=condition_id, verbose=True)

    def run(self, obj, *, graded: bool = False, seed: int | None = None, only: str | None = None,
            verbose: bool = False) -> Result:
        """Check `obj` for real, whatever the mode; never raises except KeyboardInterrupt."""
        seed = (1 if graded else 0) if seed is None else seed
        started = time.monotonic()
        conditions = [c for c in self.conditions if graded or not c.graded_only]
        if only is not None:
            wanted = [only] if isinstance(only, str) else list(only)
            unknown = [name for name in wanted if name not in {c.id for c in self.conditions}]
            if unknown:
                names = ", ".join(repr(c.id) for c in self.conditions)
                return self._whole(graded, seed, started, "error", f"{self.id} has no condition {unknown[0]!r}; "
                                   f"its conditions are {names}.")
            conditions = [c for c in self.conditions if c.id in wanted]
        wrong = self._wrong_type(obj)
        if wrong:
            return self._whole(graded, seed, started, "wrong-type", wrong)
        results, notes, out_of_time = [], [], 0
        for condition in conditions:
            why = (f"not run: the check's {CHECK_BUDGET:.0f} s were spent" if time.monotonic() - started > CHECK_BUDGET
                   else "not run: two conditions already ran out of time; make those work first"
                   if out_of_time >= MAX_TIMEOUTS else "")
            if why:
                results.append(ConditionResult(condition.id, condition.title, 0, condition.points, "not-run", why))
                continue
            try:
                result, more_notes = self._run_one(condition, obj, seed=seed, graded=graded, verbose=verbose)
            except NotAttempted:
                return self._whole(graded, seed, started, "not-attempted",
                                   f"not attempted yet: write {self.answer}, then run this cell again (0 points).")
            results.append(result)
            out_of_time += result.timed_out
            notes.extend(n for n in more_notes if n not in notes)
        score = sum(r.points for r in results)
        best = sum(r.max for r in results if r.status != "skipped")
        status = "passed" if score == best else ("partial" if score else "failed")
        return Result(self.chapter, self.id, self.answer, self.title, status, score, best, results, notes,
                      round(time.monotonic() - started, 3), graded, seed, selected=only is not None)

    def _whole(self, graded, seed, started, status, message) -> Result:
        return Result(self.chapter, self.id, self.answer, self.title, status, 0, self.max_points(graded), [], [],
                      round(time.monotonic() - started, 3), graded, seed, message)

    def _wrong_type(self, obj) -> str:
        """A sentence if `obj` cannot be what the question asks for, else ''."""
        got = f"{text(obj)} (of type {type(obj).__name__})"
        if obj is None:
            return (f"check.{self.id} needs your {self.answer} itself: write check.{self.id}({self.answer}), "
                    f"with the name and no parentheses.")
        if self.kind == "class" and not isinstance(obj, type):
            return f"check.{self.id} needs your class {self.answer} itself, but got {got}; pass the class, not an instance."
        if self.kind == "async" and not inspect.iscoroutinefunction(obj):
            return (f"check.{self.id} needs an `async def {self.answer}(...)`, but got {got}; "
                    f"write it with async def.")
        if not callable(obj):
            return (f"check.{self.id} needs your function {self.answer} itself, but got {got}; "
                    f"pass the name without calling it: check.{self.id}({self.answer}).")
        return ""

    def _run_one(self, condition: Condition, obj, *, seed: int, graded: bool, verbose: bool):
        ctx = Ctx(self, condition, seed=seed, graded=graded, verbose=verbose)
        threads_before = set(threading.enumerate())
        things_before = set(map(id, running()))
        started = time.monotonic()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ResourceWarning)
            try:
                verdict = condition.run(obj, ctx)
                if ctx.not_attempted:
                    raise NotAttempted()
            except NotAttempted:
                ctx.close()
                raise
            except KeyboardInterrupt:
                ctx.close()
                raise
            except Exception as exc:  # noqa: BLE001 - a bug of the check must not become the student's
                verdict = Verdict(None, f"the check itself failed ({describe(exc)}); this is a bug in sockcourse, "
                                        f"please report it")
                ctx.note("".join(traceback.format_exception_only(type(exc), exc)).strip())
                status_override = "error"
            else:
                status_override = None
            finally:
                replay = ctx.replay_text() if verbose else ""
                ctx.close()
            # Young generations only: enough to find the sockets a student's code dropped in a
            # reference cycle (a traceback, say), without walking the whole heap each time.
            gc.collect(1)
        notes = list(ctx.notes) + self._leftovers(ctx, threads_before, things_before, caught)
        seconds = round(time.monotonic() - started, 3)
        if status_override:
            result = ConditionResult(condition.id, condition.title, 0, condition.points, "error",
                                     verdict.message, seconds=seconds)
        elif verdict.passed is None:
            result = ConditionResult(condition.id, condition.title, 0, condition.points, "skipped",
                                     verdict.message, seconds=seconds)
        elif verdict.passed:
            result = ConditionResult(condition.id, condition.title, condition.points, condition.points,
                                     "passed", verdict.message, seconds=seconds)
        else:
            # An unknown hint is the check's own slip; the tests list every hint a condition names.
            result = ConditionResult(condition.id, condition.title, 0, condition.points, "failed",
                                     verdict.message, self.hint_id(verdict.hint), self.hints.get(verdict.hint, ""),
                                     dict(verdict.evidence), seconds)
        if replay:
            result.evidence["replay"] = replay
        result.timed_out = ctx.timed_out
        return result, notes

    @staticmethod
    def _leftovers(ctx: Ctx, threads_before: set, things_before: set, caught) -> list[str]:
        """Notes on what the student's code left behind: threads, servers, unclosed sockets."""
        notes = []
        deadline = time.monotonic() + 0.3
        while time.monotonic() < deadline:
            extra = [t for t in threading.enumerate() if t not in threads_before and t.is_alive()
                     and not t.name.startswith("homework-")]
            if not extra:
                break
            time.sleep(0.02)
        else:
            names = ", ".join(sorted({t.name for t in extra}))
            notes.append(f"your code left {plural(len(extra), 'thread')} running after the condition ended ({names}).")
        if ctx.abandoned:
            notes.append("your code was still running when a condition ended, so it was left running in the "
                         "background; restart the kernel (Kernel > Restart) if the notebook feels slow.")
        extra_things = [t for t in running() if id(t) not in things_before]
        for thing in extra_things:
            notes.append(f"your code left {thing!r} running; stop() it when you are done.")
        unclosed = sum(1 for w in caught if issubclass(w.category, ResourceWarning))
        if unclosed:
            notes.append(f"{plural(unclosed, 'socket or file', 'sockets or files')} your code opened "
                         f"{'was' if unclosed == 1 else 'were'} never closed (Python found "
                         f"{'it' if unclosed == 1 else 'them'} unreferenced and closed "
                         f"{'it' if unclosed == 1 else 'them'} for you).")
        return notes


# -- the last cell of a homework notebook ---------------------------------------------------------
@dataclasses.dataclass
class Summary:
    """Every question's result in one place, one line each."""

    results: list

    @property
    def score(self) -> int:
        return sum(r.score for r in self.results if r is not None)

    @property
    def max(self) -> int:
        return sum(r.max for r in self.results if r is not None)

    def text(self) -> str:
        lines = []
        for r in self.results:
            ran = [c for c in r.conditions if c.status != "skipped"]
            if r.status in ("not-attempted", "wrong-type", "error"):
                lines.append(f"{r.question} {r.answer}: {r.message}")
            else:
                good = sum(c.status == "passed" for c in ran)
                lines.append(f"{r.question} {r.answer}: {r.score}/{plural(r.max, 'point')}, {good} of "
                             f"{plural(len(ran), 'public condition')} passed")
        lines.append(f"Public checks: {self.score}/{plural(self.max, 'point')}. Save the notebook (Ctrl-S) before you "
                     f"hand it in: the grader reads the file, not this kernel.")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.text()

    def _repr_pretty_(self, printer, cycle) -> None:
        printer.text(self.text())


def summary(questions: list, namespace: dict):
    """Check every question by the name the exercise asked for; in grading mode, nothing."""
    if _recording is not None:
        return None
    results = []
    for question in questions:
        obj = namespace.get(question.answer)
        if obj is None:
            results.append(Result(question.chapter, question.id, question.answer, question.title, "wrong-type", 0,
                                  question.max_points(), [], [], 0.0, False, 0,
                                  f"no {question.answer} in this notebook yet (0 points)."))
        else:
            results.append(question.run(obj))
    return Summary(results)
