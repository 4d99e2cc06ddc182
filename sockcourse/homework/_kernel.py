"""What the grader runs inside a grading kernel: begin, snapshot, grade.

The grader (`sockcourse.homework.grade`) starts a fresh kernel for each
question and runs, in this order: `begin(...)`, the student's setup cells,
the cells of earlier questions this one needs, `snapshot("before")`, the
question's own cells (each followed by a `snapshot("cell N")`),
`snapshot("after")` and `grade(question)`. Each of these injected cells
imports this module afresh through `__import__`, so a student's variable
that happens to share a name cannot stand in for it.

- `begin` turns on recording mode (a student's `check.q1(obj)` then only
  notes `obj` and runs nothing) and installs the loopback-only hook of
  `policy`.
- `snapshot` notes the namespace, and says in the results file whether the
  answer can already be found: if a later cell hangs, the grader knows
  whether a second run without that cell is worth it.
- `grade` finds the answer (the check call, then the expected name, then
  the one new callable), runs the graded check on it, and appends one JSON
  line to the results file. That line is the only thing points come from:
  nothing a cell prints counts.

None of this is a security boundary (student code runs in the same
process and could read this module); it keeps honest mistakes from
turning into wrong grades.
"""

from __future__ import annotations

import inspect
import json
import os
import socket
import sys
import time
from pathlib import Path

from ..core.errors import describe
from . import chapter as chapter_module
from . import core, policy

__all__ = ["begin", "find", "grade", "snapshot"]

_state: dict = {}


def _namespace() -> dict:
    """The namespace the notebook's cells run in (IPython's user_ns), or __main__'s outside IPython."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    if shell is not None:
        return shell.user_ns
    return vars(sys.modules["__main__"])


def _write(record: dict) -> None:
    record = {"token": _state.get("token", ""), "question": _state.get("question"), **record}
    try:
        line = json.dumps(record, default=str, ensure_ascii=False)
    except (TypeError, ValueError) as exc:  # a value json cannot take, even as str(): say so, lose no record
        line = json.dumps({"token": record["token"], "question": record["question"], "kind": record.get("kind"),
                           "status": "error", "detail": f"the grader could not write its record ({describe(exc)})"})
    with open(_state["results"], "a", encoding="utf-8") as out:
        out.write(line + "\n")
        out.flush()
        os.fsync(out.fileno())


def begin(question: str, results: str, seed: int | None, loopback_only: bool = True, *, chapter: str,
          graded: bool = True, token: str = "", extra_refused=()) -> None:
    """Start grading `question` of `chapter` in this kernel; records go to the file `results`."""
    core.start_recording()
    if loopback_only:
        policy.install(extra_refused)
    module = chapter_module(chapter)
    _state.clear()
    _state.update(question=question, results=results, seed=seed, graded=graded, token=token,
                  module=module, target=getattr(module, question), before={},
                  socket_class=socket.socket, started=time.monotonic())
    _write({"kind": "begin", "pid": os.getpid()})


def snapshot(label: str, namespace: dict | None = None) -> None:
    """Note the namespace as it is now; "before" also forgets the check calls of earlier cells."""
    ns = _namespace() if namespace is None else namespace
    if label == "before":
        core.start_recording()  # from here on, a check call belongs to this question's own cells
        _state["before"] = dict(ns)
        return
    obj, found_by, _ = find(ns)
    _write({"kind": "snapshot", "label": label, "found_by": found_by})


def _fits(obj, kind: str) -> bool:
    """Whether `obj` could be the answer to a question of this kind, and was written in the notebook."""
    if getattr(obj, "__module__", None) != "__main__":
        return False  # imported, not written here
    if kind == "class":
        return isinstance(obj, type) and not issubclass(obj, BaseException)
    if kind == "async":
        return inspect.iscoroutinefunction(obj)
    return inspect.isfunction(obj)


def find(namespace: dict | None = None):
    """(object, found_by, problems) for the question being graded; (None, None, [sentence]) if there is none.

    In order: the object the question's own check cell was given; the
    expected name, new or rebound in the question's cells; the only new
    object of the right kind those cells made (a renamed function whose
    check cell was deleted); the expected name defined anywhere before.
    """
    ns = _namespace() if namespace is None else namespace
    target = _state["target"]
    before = _state.get("before", {})
    calls = core.recorded()
    if target.id in calls:
        return calls[target.id], "check-call", []
    if calls:
        other, obj = list(calls.items())[-1]
        return obj, "check-call", [f"the check cell in {target.id}'s part calls check.{other}; it was graded as "
                                   f"{target.id}"]
    name = target.answer
    if name in ns and (name not in before or ns[name] is not before[name]):
        return ns[name], "name", []
    new = [key for key, value in ns.items()
           if not key.startswith("_") and (key not in before or before[key] is not value) and _fits(value, target.kind)]
    if len(new) == 1:
        return ns[new[0]], "only-new-callable", [f"{target.id}: no {name} was found, so {new[0]} was graded instead"]
    if name in ns:
        return ns[name], "name-anywhere", []
    what = {"class": "class", "async": "async function"}.get(target.kind, "function")
    if new:
        listed = ", ".join(sorted(new))
        why = f"no {what} named {name}, and {target.id}'s part defines several ({listed}), so none could be picked"
    else:
        why = f"no {what} named {name}, and {target.id}'s part defines no {what}"
    return None, None, [why]


def _tampering() -> list[str]:
    """Notes on obvious tampering with what the check relies on (reported, not fought)."""
    notes = []
    if socket.socket is not _state.get("socket_class", socket.socket):
        notes.append("socket.socket was replaced by the submission")
    expected = str(Path(__file__).resolve().parent)
    where = str(Path(getattr(core, "__file__", "") or "?").resolve().parent)
    if where != expected:
        notes.append(f"sockcourse.homework.core was loaded from {where}, not from the grader's {expected}")
    return notes


def grade(question: str) -> None:
    """Find the answer to `question`, run its graded check, and append the record to the results file."""
    started = time.monotonic()
    if _state.get("question") != question:
        _write({"kind": "grade", "status": "error", "question": question,
                "detail": f"grade({question!r}) ran in a kernel begun for {_state.get('question')!r}"})
        return
    ns = _namespace()
    obj, found_by, problems = find(ns)
    problems = problems + _tampering()
    if found_by is None:
        _write({"kind": "grade", "status": "not-found", "found_by": None, "detail": problems[0],
                "problems": problems[1:], "seconds": round(time.monotonic() - started, 3)})
        return
    core.stop_recording()  # a check the answer itself calls must run, not be recorded
    try:
        result = _state["target"].run(obj, graded=_state["graded"], seed=_state["seed"])
    finally:
        core.start_recording()
    _write({"kind": "grade", "status": "graded", "found_by": found_by, "problems": problems,
            "result": result.to_dict(), "text": result.text(), "seconds": round(time.monotonic() - started, 3)})
