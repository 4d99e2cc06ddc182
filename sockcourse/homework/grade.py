"""The grader: each question of a submitted homework notebook in its own fresh kernel, points from its own records only.

    grade_file("alice/01_tcp.ipynb")                      # -> one dict (the JSON of one submission)
    grade_folder("subs/", out_csv="grades.csv", jobs=2)   # -> grades.csv, grades.json, feedback

The pipeline for one submission:

1. Read the file (nbformat upgrades version 3); invalid JSON or an empty
   file makes it "unreadable", with the parser's sentence, and grading goes
   on with the next one. Outputs stored in the file are never looked at.
2. Map the regions: a question's region runs from its question cell to the
   next one. Regions are found by the cells' `sockcourse` metadata, else by
   the `### q1 · Title` headings, else by where the `check.q1(` calls are.
   Cells before the first question are setup; the summary cell and all
   after it are not run.
3. For each question, start a fresh kernel of this Python in a fresh
   temporary folder (TMPDIR inside it) and run: the grader's `begin` cell,
   the setup cells, the earlier regions whose names this question uses
   (found with `ast`), the question's own cells, then the grader's `grade`
   cell, which finds the answer and appends one JSON record to a results
   file. Points come from that record alone: a question without one scores
   0 with a reason (timeout, kernel-died, not-found, not-run, error).
4. After each question the kernel is killed with its process group, every
   process carrying this run's marker in its environment is killed, and so
   is any orphan that was re-parented to the grader (Linux); the folder is
   removed. What was killed is listed in the JSON.

Limits are layered: each check condition has its own budget; each cell has
`Limits.cell` seconds, after which the kernel is interrupted and must be
idle again within `Limits.grace` seconds, else it is killed; each question
has `Limits.question` seconds of wall-clock time, watched from outside the
kernel; each notebook has `Limits.notebook` seconds, after which the
remaining questions are "not-run". If a cell of a question's own region hangs
after the answer was already defined, the question is run once more without
that cell.

What `grade_file` returns (and grades.json lists, one per submission):

    submission, student, chapter, sha256 (of the file, for disputes),
    status ("ok" | "partial" | "unreadable" | "error"), total, max, percent,
    seconds, detail (why it is unreadable or an error),
    grader: versions, python, platform, seed, public, limits, network, started,
    regions: how the parts were found ("metadata" | "headings" | "check-calls")
        and their cells, counting from 1 as a reader does,
    questions: {q1: {score, max, status (QUESTION_STATUSES), result_status
        (the check's own: passed, partial, failed, ...), found_by
        ("check-call" | "name" | "only-new-callable" | "name-anywhere" | None),
        answer, conditions [{id, title, status, passed, points, max, message,
        hint_id, hint, evidence, seconds}], notes, message, detail, text (the
        report a check cell prints), seconds, kernel_seconds, cells, needs,
        killed [{pid, cmdline, how}], retried, run_id, workdir}},
    problems: sentences about the notebook (a cell that hung, a duplicated part),
    killed: every process killed after any question, with its question.

`grade_folder(jobs=N)` grades in worker processes: a script that calls it
must do so under `if __name__ == "__main__":`, as multiprocessing requires.

THE GRADER IS NOT A SANDBOX. Submitted code runs as you, with your files
and your network. The kernel refuses non-loopback sockets (an audit hook),
which stops honest accidents, not an attack. Grade untrusted work in a
container without a network (NO_SANDBOX below says how).
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import csv
import ctypes
import dataclasses
import datetime
import fnmatch
import hashlib
import io
import json
import logging
import os
import platform
import random
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
import uuid
import warnings
import weakref
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path

import ipykernel.kernelspec
import nbformat
import psutil
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient
from nbclient.exceptions import DeadKernelError

from ..core.errors import ArgumentError, MissingFileError, describe
from . import CHAPTERS
from .policy import DOCKER_COMMAND
from . import chapter as chapter_module

__all__ = ["DOCKER_COMMAND", "Limits", "NO_SANDBOX", "QUESTION_STATUSES", "SUBMISSION_STATUSES", "class_summary",
           "grade_file", "grade_folder", "loopback_up", "map_regions", "report_text", "submissions", "write_csv",
           "write_feedback", "write_json"]

NO_SANDBOX = ("The grader is NOT a sandbox: a submission's code runs as you, can read and write your files and "
              "can start programs. Its loopback-only rule catches accidents, not attacks. Grade work you do not "
              f"trust inside a container with no network, for example:\n    {DOCKER_COMMAND}")

#: How a question ended. Only "graded" and "not-attempted" come from the grader's own record with a result.
QUESTION_STATUSES = ("graded", "not-attempted", "not-found", "timeout", "kernel-died", "not-run", "error")
#: How a submission ended: every question got a record (ok), some did not (partial), or none could run.
SUBMISSION_STATUSES = ("ok", "partial", "unreadable", "error")

#: The kernelspec every run uses, whatever the submission declares.
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
#: The environment variable every process of one question run inherits: the sweep finds escapees by it.
MARKER = "SOCKCOURSE_GRADE_RUN"
#: The name of the error nbclient reports for a cell that ran past its time.
_TIMEOUT_NAME = "SockcourseGraderTimeout"
#: Seconds the kill of one kernel may take before the grader signals its process group itself.
_KILL_WAIT = 10.0
#: Seconds on top of a question's limit after which a thread outside asyncio kills the kernel anyway.
_BACKSTOP = 15.0

#: Where nbclient's and jupyter_client's own log lines go: nowhere. "Timeout waiting for execute reply"
#: is the grader's business, reported in the JSON; on stderr it would break up the progress lines.
_quiet = logging.getLogger(f"{__name__}.kernels")
_quiet.addHandler(logging.NullHandler())
_quiet.propagate = False


@dataclasses.dataclass(frozen=True)
class Limits:
    """Seconds each layer may take (and, optionally, the bytes of memory a kernel may map).

    cell: one cell of the submission; then the kernel is interrupted.
    question: one question's whole run, from kernel start to its record.
    notebook: every question of one submission together.
    startup: a kernel's start.
    grace: after an interrupt, how long the kernel has to become idle
        before it is killed (a cell that ignores Ctrl-C).
    memory: RLIMIT_AS of each kernel in bytes (Linux), or None.
    """

    cell: float = 60.0
    question: float = 180.0
    notebook: float = 900.0
    startup: float = 60.0
    grace: float = 5.0
    memory: int | None = None

    def __post_init__(self):
        for name in ("cell", "question", "notebook", "startup", "grace"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise ArgumentError(f"Limits.{name} must be a number of seconds above 0, not {value!r}; "
                                    f"for example Limits({name}=60).")
        if self.memory is not None and (isinstance(self.memory, bool) or not isinstance(self.memory, int)
                                        or self.memory < 1 << 26):
            raise ArgumentError(f"Limits.memory must be a whole number of bytes, at least 64 MiB, or None, not "
                                f"{self.memory!r}; for example Limits(memory=4 << 30) for 4 GiB.")


# == kernels of this environment =================================================================
class CurrentEnvSpecs(KernelSpecManager):
    """Kernel specs where "python3" always means this interpreter, whatever the user's Jupyter folders say."""

    def get_kernel_spec(self, kernel_name):
        if kernel_name == "python3":
            return self.kernel_spec_class(resource_dir=ipykernel.kernelspec.RESOURCES,
                                          **ipykernel.kernelspec.get_kernel_dict())
        return super().get_kernel_spec(kernel_name)


class CurrentEnvKernelManager(AsyncKernelManager):
    """A kernel manager that starts the "python3" kernel of this environment, its channels on UNIX sockets.

    On TCP, jupyter_client picks free ports, closes them, and the kernel binds
    them a moment later: two kernels starting at once (a parallel grade, an
    assign next door) can pick the same port and one fails with "Address
    already in use". UNIX socket files in a private folder cannot collide.
    """

    def __init__(self, **kwargs):
        kwargs.setdefault("kernel_spec_manager", CurrentEnvSpecs())
        channels = None
        if os.name == "posix" and "transport" not in kwargs:
            channels = tempfile.mkdtemp(prefix="sc-kernel-")
            kwargs.update(transport="ipc", ip=os.path.join(channels, "k"))
        super().__init__(**kwargs)
        if channels is not None:
            weakref.finalize(self, shutil.rmtree, channels, True)


class _Client(NotebookClient):
    """nbclient, keeping only error outputs: grades never come from outputs, and 20 MB of prints must not pile up."""

    def output(self, outs, msg, display_id, cell_index):
        if msg.get("msg_type") != "error":
            return None
        return super().output(outs, msg, display_id, cell_index)


# == reading ======================================================================================
def _read(path: Path):
    """(notebook or None, sha256, sentence why it is unreadable or '')."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        return None, "", f"the file could not be read ({describe(exc)})"
    digest = hashlib.sha256(data).hexdigest()
    if not data.strip():
        return None, digest, "the file is empty (was the notebook saved before it was handed in?)"
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return None, digest, f"not a notebook: the file is not UTF-8 text ({exc.reason} at byte {exc.start})"
    try:
        json.loads(text)
    except ValueError as exc:
        return None, digest, f"not JSON: {exc}"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # schema quirks are tolerated; missing cell ids, for one
            nb = nbformat.reads(text, as_version=4)
    except Exception as exc:  # noqa: BLE001 - any parser complaint makes the file unreadable, never a crash
        return None, digest, f"not a notebook: {describe(exc).splitlines()[0]}"
    if not isinstance(nb.get("cells"), list):
        return None, digest, "not a notebook: it has no list of cells"
    return nb, digest, ""


def _source(cell) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def _meta(cell) -> dict:
    meta = cell.get("metadata", {})
    found = meta.get("sockcourse") if isinstance(meta, dict) else None
    return found if isinstance(found, dict) else {}


# == regions ======================================================================================
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s*(q\d+)\b", re.IGNORECASE | re.MULTILINE)
_ALIAS = re.compile(r"from\s+sockcourse\.homework\s+import\s+(ch\d\d)(?:\s+as\s+(\w+))?"
                    r"|import\s+sockcourse\.homework\.(ch\d\d)\s+as\s+(\w+)")


@dataclasses.dataclass
class Layout:
    """Where each part of a notebook is: lists of cell indices (counting from 0)."""

    mode: str                      # "metadata", "headings", "check-calls" or "none"
    setup: list
    regions: dict                  # question id -> cell indices, in notebook order
    trailing: list
    problems: list
    aliases: tuple = ("check",)

    def region_of(self, index: int) -> str | None:
        for qid, cells in self.regions.items():
            if index in cells:
                return qid
        return None


def _aliases(nb) -> tuple:
    found = {"check"}
    for cell in nb.cells:
        if cell.get("cell_type") == "code":
            for match in _ALIAS.finditer(_source(cell)):
                found.add(match[2] or match[1] or match[4])
    return tuple(sorted(found))


def _calls(source: str, aliases) -> list[str]:
    pattern = r"\b(?:%s)\.(q\d+)\s*\(" % "|".join(map(re.escape, aliases))
    return [m.lower() for m in re.findall(pattern, source)]


def _is_summary(cell, aliases) -> bool:
    if _meta(cell).get("role") == "summary":
        return True
    pattern = r"\b(?:%s)\.(?:summary|all)\s*\(" % "|".join(map(re.escape, aliases))
    return cell.get("cell_type") == "code" and re.search(pattern, _source(cell)) is not None


def map_regions(nb, question_ids) -> Layout:
    """Which cells are setup, which belong to each question, and which are not run (summary and after)."""
    known = [q.lower() for q in question_ids]
    aliases = _aliases(nb)
    cells = nb.cells
    summary_at = next((i for i, c in enumerate(cells) if _is_summary(c, aliases)), len(cells))
    spans = []  # (question id, first cell, cell after the last)
    mode = "none"
    for mode in ("metadata", "headings"):
        starts = []
        for i in range(summary_at):
            cell = cells[i]
            if mode == "metadata":
                qid = str(_meta(cell).get("question", "")).lower()
                # Consecutive cells of one question (answer, check, a split cell) continue its region.
                if qid in known and (not starts or starts[-1][1] != qid):
                    starts.append((i, qid))
            elif cell.get("cell_type") == "markdown":
                match = next((m for m in _HEADING.finditer(_source(cell)) if m[1].lower() in known), None)
                if match:
                    starts.append((i, match[1].lower()))
        if starts:
            ends = [start for start, _ in starts[1:]] + [summary_at]
            spans = [(qid, start, end) for (start, qid), end in zip(starts, ends)]
            break
    else:
        # No metadata, no headings: a region ends with its check call and starts after the one before.
        ends = []
        for i in range(summary_at):
            if cells[i].get("cell_type") == "code":
                found = [q for q in _calls(_source(cells[i]), aliases) if q in known]
                if found:
                    ends.append((i, found[-1]))
        if ends:
            mode = "check-calls"
            # The setup is everything up to the last cell, before the first check, that imports the homework.
            start = 1 + max((i for i in range(ends[0][0]) if cells[i].get("cell_type") == "code"
                             and "sockcourse.homework" in _source(cells[i])), default=-1)
            for end, qid in ends:
                spans.append((qid, start, end + 1))
                start = end + 1
            summary_at = start
        else:
            mode = "none"
    regions: dict = {}
    problems = []
    for qid, start, end in spans:
        span = list(range(start, end))
        if qid in regions:
            problems.append(f"{qid} appears more than once (cells {_cells_text(regions[qid])} and "
                            f"{_cells_text(span)}); the last one was graded")
        regions[qid] = span
    setup = list(range(spans[0][1] if spans else summary_at))
    trailing = list(range(summary_at, len(cells)))
    return Layout(mode, setup, regions, trailing, problems, aliases)


def _cells_text(indices) -> str:
    return f"{indices[0] + 1}-{indices[-1] + 1}" if indices else "none"


# == names =======================================================================================
def _python(source: str) -> str:
    """A cell's source as plain Python: IPython's magics (%time, !ls) turned into calls."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager
        return TransformerManager().transform_cell(source)
    except Exception:  # noqa: BLE001 - without IPython, magic lines are just dropped
        return "\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!")))


def _stored(node, out: set) -> None:
    """Names a top-level statement binds, without entering function or class bodies."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        out.add(node.name)
        return
    if isinstance(node, (ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
        return
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        out.update((a.asname or a.name).split(".")[0] for a in node.names if a.name != "*")
        return
    if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
        out.add(node.id)
    for child in ast.iter_child_nodes(node):
        _stored(child, out)


def names(source: str):
    """(names a cell defines at top level, names it reads anywhere), or None if it is not valid Python."""
    try:
        tree = ast.parse(_python(source))
    except (SyntaxError, ValueError):
        return None
    defined: set = set()
    for statement in tree.body:
        _stored(statement, defined)
    loaded = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)}
    return defined, loaded


@dataclasses.dataclass
class _Plan:
    """The cells of one question's run, by their index in the submission."""

    prefix: list          # setup, then the earlier regions it needs
    own: list             # the question's own code cells
    needed: list          # question ids of the regions in `prefix`, for the report
    unparsable: list      # own cells with a syntax error


def _plan(nb, layout: Layout, qid: str, answer: str) -> _Plan:
    code = {i for i, c in enumerate(nb.cells) if c.get("cell_type") == "code" and _source(c).strip()}
    parsed = {i: names(_source(nb.cells[i])) for i in code}

    def summed(indices):
        defined, loaded = set(), set()
        for i in indices:
            if parsed.get(i):
                defined |= parsed[i][0]
                loaded |= parsed[i][1]
        return defined, loaded

    setup = [i for i in layout.setup if i in code]
    own = [i for i in layout.regions.get(qid, []) if i in code]
    setup_defined, _ = summed(setup)
    own_defined, own_loaded = summed(own)
    position = min(layout.regions[qid]) if layout.regions.get(qid) else len(nb.cells)
    regions = {other: [i for i in cells if i in code] for other, cells in layout.regions.items() if other != qid}
    chosen: list = []
    wanted = own_loaded - own_defined - setup_defined
    changed = True
    while changed:  # transitively: a needed region may need another one
        changed = False
        for other, cells in regions.items():
            if other in chosen or not cells or min(cells) > position:
                continue
            defined, loaded = summed(cells)
            if defined & wanted:
                chosen.append(other)
                wanted |= loaded - defined - setup_defined
                changed = True
    if answer not in own_defined | setup_defined | summed(c for o in chosen for c in regions[o])[0]:
        # Not in its own region: the expected name defined anywhere else ("name-anywhere").
        for other, cells in regions.items():
            if other not in chosen and answer in summed(cells)[0]:
                chosen.append(other)
                break
    chosen.sort(key=lambda other: min(regions[other]))
    prefix = setup + [i for other in chosen for i in regions[other]]
    return _Plan(prefix, own, chosen, [i for i in own if parsed.get(i) is None])


# == leftovers ====================================================================================
_PR_SET_CHILD_SUBREAPER, _PR_GET_CHILD_SUBREAPER = 36, 37


@contextlib.contextmanager
def _subreaper():
    """On Linux, make this process the parent of orphans its kernels leave (double forks), for the sweep."""
    if not sys.platform.startswith("linux"):
        yield False
        return
    before = set(_children_now())
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        old = ctypes.c_int(0)
        libc.prctl(_PR_GET_CHILD_SUBREAPER, ctypes.byref(old), 0, 0, 0)
        ok = libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        yield False
        return
    try:
        yield ok
    finally:
        _reap_new_zombies(before)
        if ok and not old.value:
            libc.prctl(_PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)


def _reap_new_zombies(before: set) -> None:
    """Wait for the children that ended while grading (orphans adopted as their subreaper), so no zombie stays.

    Children this process had before are left alone: their owners wait for them.
    """
    for key, child in _children_now().items():
        if key in before:
            continue
        with contextlib.suppress(psutil.Error, ChildProcessError, OSError):
            if child.status() == psutil.STATUS_ZOMBIE:
                os.waitpid(child.pid, os.WNOHANG)


def _describe_process(process: psutil.Process) -> dict:
    try:
        command = " ".join(process.cmdline()) or process.name()
    except psutil.Error:
        command = "?"
    return {"pid": process.pid, "cmdline": command[:200]}


def _alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _marked(run_id: str) -> list[psutil.Process]:
    """Every process (of this user) whose environment carries this run's marker."""
    found, me = [], os.getpid()
    uid = os.getuid() if hasattr(os, "getuid") else None
    for process in psutil.process_iter():
        if process.pid == me:
            continue
        try:
            if uid is not None and process.uids().real != uid:
                continue
            if process.environ().get(MARKER) == run_id:
                found.append(process)
        except (psutil.Error, OSError):
            continue  # gone already, or not ours to read (macOS may need privileges)
    return found


def _children_now() -> dict:
    try:
        return {(c.pid, c.create_time()): c for c in psutil.Process().children()}
    except psutil.Error:
        return {}


def _kill(processes, how: str, killed: list, seen: set) -> None:
    for process in processes:
        if process.pid in seen or not _alive(process):
            continue
        seen.add(process.pid)
        entry = _describe_process(process)
        with contextlib.suppress(psutil.Error):
            process.kill()
        entry["how"] = how
        killed.append(entry)
    with contextlib.suppress(psutil.Error):
        psutil.wait_procs([p for p in processes if p.pid in seen], timeout=2.0)


async def _stop_kernel(km, run_id: str, children_before: dict) -> list[dict]:
    """Kill the kernel with its process group, then every escapee; return what was killed besides the kernel."""
    killed: list[dict] = []
    provisioner = getattr(km, "provisioner", None)
    pid = getattr(provisioner, "pid", None)
    pgid = getattr(provisioner, "pgid", None)
    suspects: dict = {}
    if pid:
        with contextlib.suppress(psutil.Error):
            for child in psutil.Process(pid).children(recursive=True):
                if _alive(child):  # a zombie has already ended; it goes with its parent
                    suspects[child.pid] = (child, _describe_process(child))
    for process in _marked(run_id):
        if process.pid != pid and _alive(process):
            suspects.setdefault(process.pid, (process, _describe_process(process)))
    try:
        await asyncio.wait_for(km.shutdown_kernel(now=True), _KILL_WAIT)
    except Exception:  # noqa: BLE001 - a kernel that will not die politely is killed below
        pass
    if pgid:
        with contextlib.suppress(OSError):
            os.killpg(pgid, signal.SIGKILL)
    if pid:
        with contextlib.suppress(psutil.Error):
            psutil.Process(pid).wait(timeout=2.0)
    with contextlib.suppress(Exception):
        await asyncio.wait_for(km.cleanup_resources(), 2.0)
    seen: set = set()
    if suspects:
        psutil.wait_procs([p for p, _ in suspects.values()], timeout=0.5)
    for process, entry in suspects.values():
        if not _alive(process):
            seen.add(process.pid)
            killed.append({**entry, "how": "process-group"})
    for _ in range(3):  # a leftover may fork while it is being killed: look again
        found = [p for p in _marked(run_id) if p.pid != pid and p.pid not in seen]
        if not found:
            break
        _kill(found, "marker-sweep", killed, seen)
    orphans = [c for key, c in _children_now().items() if key not in children_before and c.pid != pid]
    _kill(orphans, "subreaper", killed, seen)
    for child in psutil.Process().children():  # reap what the sweep killed, so no zombie is left
        if child.pid in seen or child.pid == pid:
            with contextlib.suppress(psutil.Error):
                child.wait(timeout=0.5)
    return killed


# == one question ================================================================================
def _injected(text: str, timeout=None):
    cell = nbformat.v4.new_code_cell(text)
    cell.metadata["grader"] = {"timeout": timeout}
    return cell


def _call(function: str, *args, **kwargs) -> str:
    arguments = ", ".join([*(repr(a) for a in args), *(f"{k}={v!r}" for k, v in kwargs.items())])
    return f'__import__("sockcourse.homework._kernel", fromlist=["_kernel"]).{function}({arguments})'


def _first_line(source: str) -> str:
    for line in source.splitlines():
        if line.strip():
            return line.strip()[:60]
    return ""


@dataclasses.dataclass
class _Job:
    """Everything one submission's question runs share."""

    chapter: str
    seed: int | None
    graded: bool
    limits: Limits
    keep_workdir: bool
    refuse: tuple
    results_dir: str
    nb: object


class _QuestionRun:
    """One question in one fresh kernel: start, run the planned cells, stop, sweep, read the record."""

    def __init__(self, job: _Job, question, plan: _Plan, *, budget: float, leave_out=()):
        self.job, self.question, self.plan, self.budget = job, question, plan, budget
        self.leave_out = set(leave_out)
        self.run_id = uuid.uuid4().hex
        self.token = uuid.uuid4().hex
        self.results = os.path.join(job.results_dir, f"{question.id}-{self.run_id[:8]}.jsonl")
        self.timed_out: list = []       # submission cell indices that ran past the cell limit (interrupted)
        self.errors: dict = {}          # submission cell index -> "Name: message"
        self.stuck_at = None            # a cell after which the kernel would not become idle
        self.died_at = None
        self.watchdog_at = None
        self.failure = None
        self.grader_errors: list = []   # errors of the grader's own cells (begin, snapshot, grade)
        self.current = (None, "start")
        self.kernel_seconds = None
        self.seconds = None
        self.killed: list = []
        self.workdir = None

    def _cells(self):
        source = self.job.nb.cells
        limit = self.job.limits.cell
        cells = [(None, "begin", _injected(_call(
            "begin", self.question.id, self.results, self.job.seed, True, chapter=self.job.chapter,
            graded=self.job.graded, token=self.token, extra_refused=tuple(self.job.refuse)), limit))]
        cells += [(i, "prefix", _injected(_source(source[i]), limit)) for i in self.plan.prefix
                  if i not in self.leave_out]
        cells.append((None, "before", _injected(_call("snapshot", "before"), limit)))
        for i in self.plan.own:
            if i in self.leave_out:
                continue
            cells.append((i, "own", _injected(_source(source[i]), limit)))
            cells.append((i, "snapshot", _injected(_call("snapshot", f"cell {i}"), limit)))
        cells.append((None, "after", _injected(_call("snapshot", "after"), limit)))
        cells.append((None, "grade", _injected(_call("grade", self.question.id), None)))
        return cells

    def _client(self, nb, replies: dict) -> _Client:
        limits = self.job.limits
        client = _Client(
            nb, kernel_name="python3", kernel_manager_class=CurrentEnvKernelManager,
            timeout_func=lambda cell: cell.metadata.get("grader", {}).get("timeout"),
            # On a timeout nbclient sends SIGINT and, with error_on_timeout, returns this error at once
            # instead of waiting for a reply that a cell ignoring SIGINT would never send.
            interrupt_on_timeout=True,
            error_on_timeout={"ename": _TIMEOUT_NAME, "evalue": "the cell ran past its time limit", "traceback": []},
            # A student's cell that raises must not stop the run: the answer may be defined already.
            allow_errors=True, startup_timeout=int(limits.startup), iopub_timeout=1, record_timing=False,
            shutdown_kernel="immediate", extra_arguments=["--IPKernelApp.log_level=ERROR"],
            resources={"metadata": {"path": self.workdir}}, log=_quiet)
        client.on_cell_executed = lambda cell, cell_index, execute_reply: replies.__setitem__(cell_index,
                                                                                              execute_reply)
        return client

    async def _execute(self, client, km, plan, replies: dict, started: float) -> None:
        """Start the kernel and run the planned cells; note each timeout, error, and a kernel that stays busy."""
        await client.async_start_new_kernel(env=self._environment(), cwd=self.workdir)
        self._limit_kernel(km)
        await client.async_start_new_kernel_client()
        self.kernel_seconds = round(time.monotonic() - started, 3)
        probe_at = len(client.nb.cells) - 1
        probe = client.nb.cells[probe_at]
        for position, (index, role, cell) in enumerate(plan):
            self.current = (index, role)
            await client.async_execute_cell(cell, position)
            reply = (replies.get(position) or {}).get("content", {})
            if reply.get("status") != "error":
                continue
            error = f"{reply.get('ename', '?')}: {reply.get('evalue', '')}"[:300]
            if reply.get("ename") == _TIMEOUT_NAME:
                self.timed_out.append(index)
                # Interrupted: the kernel must answer a trivial cell within the grace, or it is stuck
                # (a cell that ignores SIGINT), and then only killing it helps.
                replies.pop(probe_at, None)
                await client.async_execute_cell(probe, probe_at)
                if (replies.get(probe_at) or {}).get("content", {}).get("status") != "ok":
                    self.stuck_at = (index, role)
                    return
            elif role in ("prefix", "own"):
                self.errors[index] = error
            else:
                self.grader_errors.append(f"{role}: {error}")

    def _environment(self) -> dict:
        tmp = os.path.join(self.workdir, "tmp")
        os.makedirs(tmp, exist_ok=True)
        env = dict(os.environ)
        # TMPDIR inside the working folder: UNIX socket files and temporary files go with its rmtree.
        env.update({"SOCKCOURSE_GRADING": "1", MARKER: self.run_id, "PYTHONHASHSEED": "0", "TMPDIR": tmp,
                    "TEMP": tmp, "TMP": tmp})
        return env

    async def run(self) -> None:
        """The whole run, within `budget` seconds of wall-clock time; the kernel and its leftovers die after."""
        self.workdir = tempfile.mkdtemp(prefix="scg-")
        plan = self._cells()
        nb = nbformat.v4.new_notebook(cells=[cell for _, _, cell in plan], metadata={"kernelspec": dict(KERNELSPEC)})
        nb.cells.append(_injected("pass", self.job.limits.grace))  # the probe: is the kernel idle again?
        replies: dict = {}
        client = self._client(nb, replies)
        km = client.create_kernel_manager()
        km.log = _quiet
        children_before = _children_now()
        tasks_before = asyncio.all_tasks()
        backstop = threading.Timer(self.budget + _BACKSTOP, self._backstop, args=(km,))
        backstop.daemon = True
        started = time.monotonic()
        backstop.start()
        task = asyncio.ensure_future(self._execute(client, km, plan, replies, started))
        try:
            done, _ = await asyncio.wait({task}, timeout=self.budget)
            if task not in done:
                self.watchdog_at = self.current
                task.cancel()
                await asyncio.wait({task}, timeout=5.0)
                if task.done() and not task.cancelled():
                    task.exception()  # nbclient turns the cancellation into "kernel died"; the watchdog knows better
            elif task.exception() is not None:
                error = task.exception()
                alive = False
                with contextlib.suppress(Exception):
                    alive = await asyncio.wait_for(km.is_alive(), 2.0)
                if self.kernel_seconds is None:
                    self.failure = f"its kernel did not start: {describe(error)}"
                elif isinstance(error, DeadKernelError) or not alive:
                    self.died_at = self.current
                else:
                    self.failure = describe(error)
        finally:
            backstop.cancel()
            with contextlib.suppress(Exception):
                if client.kc is not None:
                    stopping = client.kc.stop_channels()
                    if asyncio.iscoroutine(stopping):
                        await stopping
            self.killed = await _stop_kernel(km, self.run_id, children_before)
            # nbclient's own pollers of a killed kernel would otherwise outlive the run.
            for leftover in asyncio.all_tasks() - tasks_before - {asyncio.current_task()}:
                leftover.cancel()
            if not self.job.keep_workdir:
                shutil.rmtree(self.workdir, ignore_errors=True)
        self.seconds = round(time.monotonic() - started, 3)

    def _limit_kernel(self, km) -> None:
        """RLIMIT_CPU (a backstop: twice the question's time) and, if asked, RLIMIT_AS on the kernel (Linux)."""
        pid = getattr(getattr(km, "provisioner", None), "pid", None)
        if not pid or not hasattr(psutil.Process, "rlimit"):
            return
        with contextlib.suppress(psutil.Error, OSError, ValueError):
            process = psutil.Process(pid)
            cpu = int(2 * self.budget) + 10
            process.rlimit(psutil.RLIMIT_CPU, (cpu, cpu))
            if self.job.limits.memory:
                process.rlimit(psutil.RLIMIT_AS, (self.job.limits.memory, self.job.limits.memory))

    def _backstop(self, km) -> None:
        # The asyncio watchdog should have ended the run already; this thread acts if the loop itself is stuck.
        pgid = getattr(getattr(km, "provisioner", None), "pgid", None)
        if pgid:
            with contextlib.suppress(OSError):
                os.killpg(pgid, signal.SIGKILL)

    def records(self) -> list[dict]:
        found = []
        with contextlib.suppress(OSError):
            with open(self.results, encoding="utf-8") as lines:
                for line in lines:
                    with contextlib.suppress(ValueError):
                        record = json.loads(line)
                        if (isinstance(record, dict) and record.get("token") == self.token
                                and record.get("question") == self.question.id):
                            found.append(record)
        return found

    def answer_found_before(self, index) -> bool:
        """Whether the answer could already be found before cell `index` of the question's own region ran."""
        if index not in self.plan.own:
            return False
        earlier = {f"cell {i}" for i in self.plan.own[:self.plan.own.index(index)]}
        snapshots = [r for r in self.records() if r.get("kind") == "snapshot" and r.get("label") in earlier]
        return bool(snapshots) and snapshots[-1].get("found_by") is not None


def _cell_name(nb, index) -> str:
    if index is None:
        return "the grader's own check"
    line = _first_line(_source(nb.cells[index]))
    return f"cell {index + 1} ({line})" if line else f"cell {index + 1}"


def _question_record(job: _Job, question, run: _QuestionRun, max_points: int) -> dict:
    """The JSON of one question, from the run's own record; without one, 0 points and the reason."""
    nb, limits = job.nb, job.limits
    records = run.records()
    grade = next((r for r in reversed(records) if r.get("kind") == "grade"), None)
    entry = {"score": 0, "max": max_points, "status": "error", "answer": question.answer, "found_by": None,
             "seconds": getattr(run, "seconds", None), "kernel_seconds": run.kernel_seconds,
             "cells": [i + 1 for i in run.plan.prefix + run.plan.own if i not in run.leave_out],
             "needs": list(run.plan.needed), "run_id": run.run_id, "workdir": run.workdir,
             "killed": run.killed, "problems": []}
    problems = entry["problems"]
    for index in run.timed_out:
        if index is not None and not (run.stuck_at and run.stuck_at[0] == index):
            problems.append(f"{question.id}: {_cell_name(nb, index)} ran past the {limits.cell:g} s cell limit "
                            f"and was interrupted")
    for index, error in run.errors.items():
        problems.append(f"{question.id}: {_cell_name(nb, index)} raised {error.splitlines()[0] if error else '?'}")
    if grade is not None and grade.get("status") == "graded" and isinstance(grade.get("result"), dict):
        result = grade["result"]
        score = result.get("score", 0)
        score = min(max(int(score), 0), max_points) if isinstance(score, (int, float)) else 0
        entry.update(score=score, status="not-attempted" if result.get("status") == "not-attempted" else "graded",
                     result_status=result.get("status"), found_by=grade.get("found_by"),
                     conditions=[_condition(c) for c in result.get("conditions", []) if isinstance(c, dict)],
                     notes=list(result.get("notes", [])), message=result.get("message", ""),
                     text=str(grade.get("text", "")), check_seconds=result.get("seconds"))
        problems.extend(str(p) for p in grade.get("problems", []))
        return entry
    if run.watchdog_at is not None:
        index, role = run.watchdog_at
        what = _cell_name(nb, index) if role in ("prefix", "own") else {
            "grade": "the grader's check", "start": "starting the kernel"}.get(role, "a grader cell")
        limit = (f"its {limits.question:g} s limit" if run.budget >= limits.question
                 else f"the {run.budget:.1f} s left of the notebook's {limits.notebook:g} s limit")
        entry.update(status="timeout", detail=f"the question ran past {limit}, in {what}; the kernel was killed")
    elif run.stuck_at is not None:
        entry.update(status="timeout", detail=f"{_cell_name(nb, run.stuck_at[0])} ran past the {limits.cell:g} s "
                                              f"cell limit and did not stop when interrupted; the kernel was killed")
    elif run.died_at is not None:
        index, role = run.died_at
        what = _cell_name(nb, index) if role in ("prefix", "own") else (
            "the grader's check" if role == "grade" else "its start" if role == "start" else "a grader cell")
        entry.update(status="kernel-died", detail=f"the kernel died while running {what} (os._exit(), a crash, "
                                                  f"or too much memory)")
    elif grade is not None and grade.get("status") == "not-found":
        if run.timed_out:
            entry.update(status="timeout", detail=f"{_cell_name(nb, run.timed_out[0])} ran past the "
                                                  f"{limits.cell:g} s cell limit, and then {grade.get('detail')}")
        else:
            entry.update(status="not-found", detail=str(grade.get("detail", "")))
            for index in run.plan.unparsable:
                entry["detail"] += f"; {_cell_name(nb, index)} is not valid Python"
                break
        problems.extend(str(p) for p in grade.get("problems", []))
    elif run.failure is not None:
        entry.update(status="error", detail=f"the grader could not run this question ({run.failure})")
    elif run.grader_errors:
        entry.update(status="error", detail=f"the grader's own cell failed ({run.grader_errors[0]})")
    elif grade is not None:
        entry.update(status="error", detail=str(grade.get("detail", "the grader's record says it failed")))
    else:
        entry.update(status="error", detail="the grader's own cell wrote no record, so this question scores 0")
    return entry


def _condition(c: dict) -> dict:
    keep = ("id", "title", "status", "points", "max", "message", "hint_id", "hint", "evidence", "seconds")
    found = {key: c.get(key) for key in keep if key in c}
    found["passed"] = c.get("status") == "passed"
    return found


def _not_run(question, max_points: int, detail: str) -> dict:
    return {"score": 0, "max": max_points, "status": "not-run", "answer": question.answer, "found_by": None,
            "seconds": 0.0, "detail": detail, "killed": [], "problems": []}


async def _grade_questions(job: _Job, layout: Layout, questions, started: float) -> dict:
    limits = job.limits
    deadline = started + limits.notebook
    out = {}
    for question in questions:
        max_points = question.max_points(job.graded)
        remaining = deadline - time.monotonic()
        if remaining < 1.0:
            out[question.id] = _not_run(question, max_points,
                                        f"not run: the notebook's {limits.notebook:g} s limit was spent "
                                        f"on the questions before it")
            continue
        plan = _plan(job.nb, layout, question.id, question.answer)
        if not plan.own and not plan.needed:
            out[question.id] = {"score": 0, "max": max_points, "status": "not-found", "answer": question.answer,
                                "found_by": None, "seconds": 0.0, "killed": [], "problems": [],
                                "detail": f"the notebook has no part for {question.id} (no '### {question.id} ·' "
                                          f"heading, no check.{question.id}(...) cell) and defines no "
                                          f"{question.answer}"}
            continue
        run = _QuestionRun(job, question, plan, budget=min(limits.question, remaining))
        await run.run()
        entry = _question_record(job, question, run, max_points)
        offending = run.stuck_at or run.watchdog_at
        if (entry["status"] == "timeout" and offending and offending[1] == "own"
                and run.answer_found_before(offending[0]) and deadline - time.monotonic() > 2.0):
            again = _QuestionRun(job, question, plan, budget=min(limits.question, deadline - time.monotonic()),
                                 leave_out={offending[0]})
            await again.run()
            second = _question_record(job, question, again, max_points)
            second["killed"] = run.killed + second["killed"]
            second["seconds"] = round((run.seconds or 0) + (again.seconds or 0), 3)
            second["retried"] = {"without_cell": offending[0] + 1, "first_run": entry.get("detail"),
                                 "first_run_id": run.run_id, "first_workdir": run.workdir}
            second["problems"].insert(0, f"{question.id}: {_cell_name(job.nb, offending[0])} hung, so "
                                         f"{question.id} was run again without it")
            entry = second
        out[question.id] = entry
    return out


# == one submission ===============================================================================
def _versions() -> dict:
    from importlib import metadata

    found = {}
    for name in ("sockcourse", "nbclient", "jupyter_client", "ipykernel", "nbformat"):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "unknown"
    return found


def _chapter_of(nb, path: Path, chapter) -> str | None:
    """The chapter's name ("01_tcp"): as given, else from the notebook's metadata, the file name, the imports."""
    candidates = []
    if chapter is not None:
        candidates.append(str(chapter))
    if nb is not None:
        meta = nb.get("metadata", {}).get("sockcourse", {})
        if isinstance(meta, dict) and isinstance(meta.get("homework"), dict):
            candidates.append(str(meta["homework"].get("chapter", "")))
    for match in re.finditer(r"(?:^|[^0-9])(\d\d)_[a-z]|ch(\d\d)", path.name.lower()):
        candidates.append(match[1] or match[2])
    if nb is not None:
        for cell in nb.cells:
            for match in _ALIAS.finditer(_source(cell) if cell.get("cell_type") == "code" else ""):
                candidates.append(match[1] or match[3])
    for candidate in candidates:
        key = candidate.strip().lower().removeprefix("ch")
        for full in CHAPTERS:
            if key and key in (full, full[:2]):
                return full
        if chapter is not None and candidate == str(chapter):
            raise ArgumentError(f"There is no homework for chapter {chapter!r}; the chapters with homework are "
                                f"{', '.join(CHAPTERS)} (give the two digits, for example '01').")
    return None


def _run_async(coroutine):
    """asyncio.run(), even when called from a thread that already runs a loop (a notebook cell)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    box = {}

    def work():
        try:
            box["value"] = asyncio.run(coroutine)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            box["error"] = exc

    worker = threading.Thread(target=work, name="sockcourse-grade")
    worker.start()
    worker.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


def grade_file(path, *, chapter=None, seed=None, limits: Limits | None = None, keep_workdir: bool = False,
               public: bool = False, name: str | None = None, student: str | None = None,
               questions=None, refuse=()) -> dict:
    """Grade one submitted notebook, each question in a fresh kernel; return its JSON object (see the docs).

    chapter: "01", "01_tcp" or "ch01"; else from the notebook's metadata, its
        file name, or its `from sockcourse.homework import chNN` line.
    seed: the grading seed (None: a random one, stored in the result).
    public: grade as the student's own check does: public conditions and
        the public seed (`python -m sockcourse check`).
    name, student: how the submission and the student are named in the result.
    questions: question ids to grade (default: all of the chapter's).
    refuse: loopback hosts the kernel's network rule refuses as well (tests
        use it to see refusals without aiming at another machine).
    """
    limits = Limits() if limits is None else limits
    if not isinstance(limits, Limits):
        raise ArgumentError(f"limits must be a Limits(...), not {limits!r}; for example Limits(cell=30).")
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"There is no file {str(path)!r} to grade; check the path.")
    if seed is None and not public:
        seed = random.SystemRandom().randrange(1, 1_000_000)
    started = time.monotonic()
    nb, digest, unreadable = _read(path)
    chapter_name = _chapter_of(nb, path, chapter)
    result = {
        "submission": name or str(path), "student": student or "",
        "chapter": chapter_name or "", "sha256": digest, "status": "ok", "total": 0, "max": 0, "percent": 0.0,
        "seconds": 0.0, "grader": {
            **_versions(), "python": platform.python_version(), "platform": platform.platform(), "seed": seed,
            "public": public, "isolation": "question", "limits": dataclasses.asdict(limits),
            "network": "own namespace" if os.environ.get(NETNS_ENV) == "1" else "this machine's",
            "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")},
        "questions": {}, "problems": [], "killed": [], "regions": {}}
    module = chapter_module(chapter_name) if chapter_name else None
    if module is not None:
        result["max"] = sum(q.max_points(not public) for q in module.QUESTIONS)
    if unreadable:
        result.update(status="unreadable", detail=unreadable, seconds=round(time.monotonic() - started, 3))
        result["problems"].append(unreadable)
        return result
    if module is None:
        result.update(status="error", detail="the grader could not tell which chapter this is: name it with "
                                             "--chapter, for example --chapter 01")
        result["problems"].append(result["detail"])
        return result
    if questions is not None:
        unknown = sorted(set(questions) - {q.id for q in module.QUESTIONS})
        if unknown:
            raise ArgumentError(f"Chapter {chapter_name} has no question {', '.join(unknown)}; its questions are "
                                f"{', '.join(q.id for q in module.QUESTIONS)}.")
    chosen = [q for q in module.QUESTIONS if questions is None or q.id in set(questions)]
    layout = map_regions(nb, [q.id for q in module.QUESTIONS])
    result["regions"] = {"mode": layout.mode, "setup": [i + 1 for i in layout.setup],
                         "questions": {q: [i + 1 for i in cells] for q, cells in layout.regions.items()},
                         "not_run": [i + 1 for i in layout.trailing]}
    result["problems"].extend(layout.problems)
    if layout.mode != "metadata":
        result["problems"].append(f"the notebook's cell metadata was missing, so its parts were found by "
                                  f"{'their headings' if layout.mode == 'headings' else 'the check calls'}"
                                  if layout.mode != "none" else "no question headings or check calls were found")
    result["max"] = sum(q.max_points(not public) for q in chosen)
    results_dir = tempfile.mkdtemp(prefix="scg-results-")
    job = _Job(chapter_name, seed, not public, limits, keep_workdir, tuple(refuse), results_dir, nb)
    try:
        with _subreaper():
            graded = _run_async(_grade_questions(job, layout, chosen, started))
    finally:
        shutil.rmtree(results_dir, ignore_errors=True)
    result["questions"] = graded
    for qid, entry in graded.items():
        result["problems"].extend(entry.get("problems", []))
        result["killed"].extend({**k, "question": qid} for k in entry.get("killed", []))
    result["total"] = sum(e["score"] for e in graded.values())
    result["percent"] = round(100.0 * result["total"] / result["max"], 1) if result["max"] else 0.0
    if any(e["status"] in ("timeout", "kernel-died", "not-run", "error") for e in graded.values()):
        result["status"] = "partial"
    result["seconds"] = round(time.monotonic() - started, 3)
    return result


# == a network of its own (Linux) ================================================================
#: Set in the environment of a grader that runs in a network namespace of its own (`grade --netns`).
NETNS_ENV = "SOCKCOURSE_GRADE_NETNS"

_SIOCGIFFLAGS, _SIOCSIFFLAGS, _IFF_UP = 0x8913, 0x8914, 0x1


def loopback_up(name: str = "lo") -> None:
    """Bring the loopback interface up: a new network namespace starts with it down (see netdevice(7))."""
    import fcntl
    import socket
    import struct

    layout = struct.Struct("16sH14s")  # struct ifreq: the interface's name, then ifr_flags (a short)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        _, flags, _ = layout.unpack(fcntl.ioctl(sock, _SIOCGIFFLAGS, layout.pack(name.encode(), 0, b"")))
        if not flags & _IFF_UP:
            fcntl.ioctl(sock, _SIOCSIFFLAGS, layout.pack(name.encode(), flags | _IFF_UP, b""))


# == reports =====================================================================================
def _question_text(qid: str, entry: dict) -> str:
    if entry.get("text"):
        return entry["text"]
    detail = entry.get("detail") or entry.get("message") or ""
    return f"✘ {qid} {entry.get('answer', '')} · {entry['status']}: {detail} (0/{entry.get('max', 0)} points)"


def report_text(result: dict) -> str:
    """The report of one submission, as the student reads it: the same text a check cell shows, per question."""
    who = f" · {result['student']}" if result.get("student") else ""
    if result["status"] == "unreadable":
        return f"{result.get('chapter') or 'homework'}{who} · could not be graded: {result.get('detail', '')}\n"
    if result["status"] == "error" and not result.get("questions"):
        return f"{result.get('chapter') or 'homework'}{who} · could not be graded: {result.get('detail', '')}\n"
    public = result.get("grader", {}).get("public")
    how = "public checks, as in your own notebook" if public else f"graded with seed {result['grader'].get('seed')}"
    lines = [f"{result['chapter']}{who} · {result['total']}/{result['max']} points ({how})", ""]
    for qid, entry in result["questions"].items():
        lines.append(_question_text(qid, entry))
        lines.append("")
    problems = list(result.get("problems", []))
    if problems:
        lines.append("Notes from the grader:")
        lines.extend(f"- {p}" for p in dict.fromkeys(problems))
    return "\n".join(lines).rstrip() + "\n"


def _feedback_markdown(result: dict) -> str:
    title = f"# {result.get('chapter') or 'Homework'}: {result.get('student') or result['submission']}"
    return (f"{title}\n\nSubmission `{result['submission']}` (sha256 {result.get('sha256', '')[:12]}).\n\n"
            f"```text\n{report_text(result)}```\n")


def _safe(part: str) -> str:
    return re.sub(r"[^A-Za-z0-9._@+-]", "_", part).strip(".") or "_"


def write_feedback(results, folder) -> list[Path]:
    """One Markdown report per submission, FOLDER/<student>/<chapter>.md; return the paths written."""
    folder = Path(folder)
    written, used = [], set()
    for result in results:
        base = folder / _safe(result.get("student") or Path(result["submission"]).stem)
        name = _safe(result.get("chapter") or Path(result["submission"]).stem)
        target, n = base / f"{name}.md", 2
        while target in used:
            target, n = base / f"{name}-{n}.md", n + 1
        used.add(target)
        base.mkdir(parents=True, exist_ok=True)
        target.write_text(_feedback_markdown(result), encoding="utf-8")
        written.append(target)
    return written


def _question_columns(results) -> list[str]:
    """The questions graded in any submission (all of the chapter's, unless a run chose some)."""
    found = {qid for result in results for qid in result.get("questions", {})}
    if not found:  # nothing could be graded: still show the chapters' columns
        found = {q.id for r in results if r.get("chapter") for q in chapter_module(r["chapter"]).QUESTIONS}
    return sorted(found, key=lambda q: (len(q), q))


def write_csv(results, path, *, public: bool = False) -> None:
    """grades.csv: a points-possible row per chapter, then one row per submission."""
    columns = _question_columns(results)
    header = ["submission", "student", "chapter", "status", *columns, "total", "max", "percent", "seconds",
              "problems"]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for chapter_name in sorted({r["chapter"] for r in results if r.get("chapter")}):
        points = {q.id: q.max_points(not public) for q in chapter_module(chapter_name).QUESTIONS if q.id in columns}
        writer.writerow(["points-possible", "", chapter_name, "", *(points.get(c, "") for c in columns),
                         sum(points.values()), sum(points.values()), 100, "", ""])
    for r in results:
        questions = r.get("questions", {})
        problems = "; ".join(dict.fromkeys(
            f"{qid} {e['status']}" for qid, e in questions.items() if e["status"] != "graded"))
        if r["status"] in ("unreadable", "error") and not questions:
            problems = r.get("detail", "")
        writer.writerow([r["submission"], r.get("student", ""), r.get("chapter", ""), r["status"],
                         *(questions[c]["score"] if c in questions else "" for c in columns),
                         r.get("total", 0), r.get("max") or "", r.get("percent", 0.0), r.get("seconds", 0.0),
                         problems])
    Path(path).write_text(buffer.getvalue(), encoding="utf-8")


def write_json(results, path) -> None:
    """grades.json: the list of every submission's object, as grade_file() returns it."""
    Path(path).write_text(json.dumps(list(results), indent=1, ensure_ascii=False, default=str) + "\n",
                          encoding="utf-8")


# == a folder ===================================================================================
def _student_of(relative: Path, pattern: str | None) -> str:
    if pattern:
        match = re.search(pattern, relative.as_posix())
        if match:
            if "student" in match.re.groupindex:
                return match["student"]
            return match[1] if match.re.groups else match[0]
    return relative.parts[0] if len(relative.parts) > 1 else relative.stem


def submissions(folder) -> list[Path]:
    """Every notebook under `folder`, in a stable order, without Jupyter's checkpoint copies."""
    folder = Path(folder)
    return sorted(p for p in folder.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts and p.is_file())


def submission_bound(limits: Limits) -> float:
    """Seconds one submission may take in a worker: its notebook budget, plus each kill and sweep (<= 20 s,
    for at most 10 questions), plus a worker's start; past this it is marked failed, never waited for."""
    return limits.notebook + 20.0 * 10 + 60.0


def _grade_one(arguments: dict) -> dict:
    """One submission in a worker process (top-level, so a process pool can pickle it)."""
    try:
        return grade_file(**arguments)
    except Exception as exc:  # noqa: BLE001 - one submission's failure must not end the others
        return _failed(arguments, f"the grader failed on this submission ({describe(exc)})")


def _failed(arguments: dict, detail: str) -> dict:
    return {"submission": arguments.get("name") or str(arguments["path"]), "student": arguments.get("student", ""),
            "chapter": "", "sha256": "", "status": "error", "total": 0, "max": 0, "percent": 0.0, "seconds": 0.0,
            "grader": {"seed": arguments.get("seed")}, "questions": {}, "problems": [detail], "killed": [],
            "detail": detail}


def _progress_line(n: int, count: int, result: dict) -> str:
    what = (f"{result['status']}, {result['total']}/{result['max']} points" if result["status"] in ("ok", "partial")
            else f"{result['status']}: {result.get('detail', '')}")
    trouble = [f"{q} {e['status']}" for q, e in result.get("questions", {}).items()
               if e["status"] not in ("graded", "not-attempted")]
    tail = f" ({', '.join(trouble)})" if trouble else ""
    return f"[{n}/{count}] {result['submission']}: {what}, {result.get('seconds', 0):.1f} s{tail}"


def grade_folder(folder, *, out_csv, out_json=None, feedback=None, jobs: int = 1, chapter=None, seed=None,
                 limits: Limits | None = None, keep_workdirs: bool = False, student_regex: str | None = None,
                 public: bool = False, questions=None, refuse=(), only: str | None = None, resume: bool = False,
                 progress=None) -> list[dict]:
    """Grade every notebook under `folder`; write grades.csv (and grades.json, and feedback); return the results.

    jobs: submissions graded at the same time, each in its own worker
        process (the questions of one submission always run one after another).
    only: a glob pattern (fnmatch) on the path under `folder`, such as
        "alice/*": grade only the submissions it matches.
    resume: reuse the result of every submission already in the JSON file
        of an earlier run with the same file (sha256), seed and limits; the
        seed is taken from that run if none is given. The CSV and the JSON
        are rewritten after each submission, so an interrupted run resumes.
    progress: a function given one line per submission as it is done (the
        command line prints them on stderr), and one line at the start.
    The other options are grade_file()'s, applied to every submission; one
    seed serves every submission (a random one if None).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise MissingFileError(f"There is no folder {str(folder)!r} of submissions to grade; check the path.")
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ArgumentError(f"jobs must be a whole number, 1 or more, not {jobs!r}; for example jobs=2.")
    limits = Limits() if limits is None else limits
    paths = submissions(folder)
    if not paths:
        raise MissingFileError(f"There are no .ipynb files under {str(folder)!r}; point at the folder that "
                               f"holds the submitted notebooks.")
    if only is not None:
        paths = [p for p in paths if fnmatch.fnmatchcase(p.relative_to(folder).as_posix(), only)]
        if not paths:
            raise ArgumentError(f"No submission under {str(folder)!r} matches {only!r}; the pattern is matched "
                                f"against paths such as 'alice/01_tcp.ipynb' (for example 'alice/*').")
    if student_regex is not None:
        try:
            re.compile(student_regex)
        except re.error as exc:
            raise ArgumentError(f"The student pattern {student_regex!r} is not a valid regular expression "
                                f"({exc}); for example '^(?P<student>[^/]+)/'.") from None
    out_csv = Path(out_csv)
    json_path = Path(out_json) if out_json is not None else out_csv.with_suffix(".json")
    previous = _previous_run(json_path) if resume else {}
    for target in (out_csv, json_path):
        _writable(target)
    if seed is None and not public:
        seeds = [r.get("grader", {}).get("seed") for r in previous.values()]
        seed = next((s for s in seeds if isinstance(s, int)), None) or random.SystemRandom().randrange(1, 1_000_000)
    say = progress or (lambda line: None)
    say(f"grading {len(paths)} submission(s) from {folder} with seed {seed}" if not public else
        f"checking {len(paths)} submission(s) from {folder} with the public checks")
    tasks = []
    for path in paths:
        relative = path.relative_to(folder)
        tasks.append(dict(path=str(path), chapter=chapter, seed=seed, limits=limits, keep_workdir=keep_workdirs,
                          public=public, name=relative.as_posix(), student=_student_of(relative, student_regex),
                          questions=questions, refuse=tuple(refuse)))
    results: list = [None] * len(tasks)
    count = len(tasks)

    def record(n: int, result: dict, note: str = "") -> None:
        results[n] = result
        say(_progress_line(sum(r is not None for r in results), count, result) + note)
        done = [r for r in results if r is not None]
        write_csv(done, out_csv, public=public)
        write_json(done, json_path)

    todo = []
    for n, task in enumerate(tasks):
        old = _reusable(previous.get(task["name"]), task)
        if old is not None:
            record(n, old, " (kept from the earlier run)")
        else:
            todo.append(n)
    if jobs == 1 or len(todo) <= 1:
        for n in todo:
            record(n, _grade_one(tasks[n]))
    else:
        _grade_in_workers(tasks, todo, min(jobs, len(todo)), limits, record)
    if feedback is not None:
        write_feedback(results, feedback)
    return results


def _grade_in_workers(tasks, todo, jobs: int, limits: Limits, record) -> None:
    """Grade the submissions `todo` in `jobs` worker processes; a worker that overruns is killed, never waited for."""
    import multiprocessing

    # Forking a process that runs asyncio and threads is unsafe, so workers are forked from a fresh,
    # single-threaded server that has imported the grader once ("forkserver"): importing nbformat costs
    # seconds of CPU (its JSON-schema validators compile grammars), paid once rather than per worker.
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload([__name__])
    else:
        context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(max_workers=jobs, mp_context=context)
    futures = {pool.submit(_grade_one, tasks[n]): n for n in todo}
    pending = set(futures)
    rounds = -(-len(todo) // jobs)
    deadline = time.monotonic() + submission_bound(limits) * rounds
    try:
        while pending:
            done, pending = wait(pending, timeout=max(0.0, deadline - time.monotonic()), return_when=FIRST_COMPLETED)
            if not done:
                break
            for future in done:
                n = futures[future]
                try:
                    result = future.result()
                except Exception as exc:  # noqa: BLE001 - a worker that died takes only its own submission
                    result = _failed(tasks[n], f"the grader's worker failed ({describe(exc)})")
                record(n, result)
        for future in pending:
            record(futures[future], _failed(tasks[futures[future]],
                                            "the grader's worker did not finish this submission in time"))
    finally:
        if pending:
            for process in list(getattr(pool, "_processes", {}).values()):
                with contextlib.suppress(Exception):
                    process.kill()
        pool.shutdown(wait=not pending, cancel_futures=True)
        stop_multiprocessing_helpers()


def stop_multiprocessing_helpers() -> None:
    """Stop the forkserver and the resource tracker, which multiprocessing leaves running after a pool.

    They would stay for the life of the calling process (a notebook, a test
    run) as children nobody waits for; multiprocessing starts them again if
    another pool needs them.
    """
    from multiprocessing import forkserver, resource_tracker

    for helper in (getattr(forkserver, "_forkserver", None), getattr(resource_tracker, "_resource_tracker", None)):
        stop = getattr(helper, "_stop", None)  # private, but the only way short of exiting
        if stop is not None:
            with contextlib.suppress(Exception):
                stop()


def _writable(path: Path) -> None:
    """Make sure `path` can be written before any grading starts (its folder is made if need be)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8"):
            pass
    except OSError as exc:
        raise ArgumentError(f"The grades cannot be written to {str(path)!r} ({describe(exc)}); pick a file in a "
                            f"folder you can write to, for example --out grades.csv.") from None


def _previous_run(path: Path) -> dict:
    """The results of an earlier run by submission, from its JSON file; {} if there is none yet."""
    if not path.exists() or not path.stat().st_size:
        return {}  # none yet, or a run that ended before its first submission was done
    try:
        old = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ArgumentError(f"Cannot resume from {str(path)!r}: it is not the JSON an earlier run wrote "
                            f"({describe(exc)}); remove it, or grade without resuming.") from None
    if not isinstance(old, list):
        raise ArgumentError(f"Cannot resume from {str(path)!r}: it is not the list of results an earlier run "
                            f"wrote; remove it, or grade without resuming.")
    return {r["submission"]: r for r in old if isinstance(r, dict) and isinstance(r.get("submission"), str)}


def _reusable(old, task: dict):
    """`old`, if it graded exactly this file with these settings (and was not a grader failure), else None."""
    if not isinstance(old, dict) or old.get("status") == "error":
        return None
    grader = old.get("grader", {})
    try:
        digest = hashlib.sha256(Path(task["path"]).read_bytes()).hexdigest()
    except OSError:
        return None
    same = (old.get("sha256") == digest and grader.get("seed") == task["seed"]
            and bool(grader.get("public")) == task["public"]
            and grader.get("limits") == dataclasses.asdict(task["limits"])
            and (task["questions"] is None or old["status"] == "unreadable"
                 or set(old.get("questions", {})) == set(task["questions"])))
    return old if same else None


def class_summary(results) -> str:
    """Per-condition failure rates over the graded submissions: the cheapest teaching signal there is."""
    counts: dict = {}
    for result in results:
        for qid, entry in result.get("questions", {}).items():
            if entry.get("status") != "graded":
                continue
            for c in entry.get("conditions", []):
                if c.get("status") in ("passed", "failed", "error"):
                    key = (result.get("chapter", ""), qid, c.get("id"))
                    seen, failed = counts.get(key, (0, 0))
                    counts[key] = (seen + 1, failed + (c.get("status") != "passed"))
    if not counts:
        return "No condition was run in any submission, so there is nothing to summarise.\n"
    lines = ["failed  of  condition"]
    for (chapter_name, qid, cid), (seen, failed) in sorted(counts.items(), key=lambda kv: (-kv[1][1] / kv[1][0],
                                                                                         kv[0])):
        lines.append(f"{100 * failed / seen:5.0f} % {seen:3}  {chapter_name} {qid} {cid}")
    return "\n".join(lines) + "\n"
