"""Submissions for the grader's tests, made in code from chapter 01's source notebook (never hand-edited JSON).

`solution()` is the source with its `# BEGIN SOLUTION` / `# END SOLUTION`
lines removed (so the instructor's answers are in place); `student()` has
each solution region replaced by the stub a student receives. The other
helpers change one thing: a cell's source, a new cell after another, a cell
removed, metadata stripped.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[2]
SOURCE = REPO / "homework-source" / "01_tcp.ipynb"

_MARKER = re.compile(r"^(\s*)# (BEGIN|END) SOLUTION\b.*$")


def source():
    return nbformat.read(SOURCE, as_version=4)


def solution():
    """The source notebook with the solution markers removed: every answer is the instructor's."""
    nb = source()
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.source = "\n".join(line for line in cell.source.splitlines() if not _MARKER.match(line))
    return nb


def student():
    """The student's copy: each solution region replaced by a NotImplementedError stub, outputs cleared."""
    nb = source()
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        question = cell.metadata.get("sockcourse", {}).get("question", "q?")
        out, inside = [], False
        for line in cell.source.splitlines():
            match = _MARKER.match(line)
            if match and match[2] == "BEGIN":
                inside = True
                answer = re.search(r"def (\w+)", cell.source)
                what = answer[1] if answer else "your answer"
                out.append(f'{match[1]}raise NotImplementedError("{question}: write {what}")')
            elif match:
                inside = False
            elif not inside:
                out.append(line)
        cell.source = "\n".join(out)
        cell.outputs, cell.execution_count = [], None
    return nb


def index(nb, question: str, role: str) -> int:
    """The index of the first cell of `question` with `role` (answer, check, question)."""
    for i, cell in enumerate(nb.cells):
        meta = cell.metadata.get("sockcourse", {})
        if meta.get("question") == question and meta.get("role") == role:
            return i
    raise LookupError(f"no {role} cell for {question}")


def insert_after(nb, position: int, source: str, *, metadata: dict | None = None):
    """Add a code cell after cell `position`, as a student would (no sockcourse metadata unless given)."""
    cell = nbformat.v4.new_code_cell(source)
    if metadata:
        cell.metadata["sockcourse"] = dict(metadata)
    nb.cells.insert(position + 1, cell)
    return nb


def append_to(nb, position: int, text: str):
    """Add lines at the end of cell `position`."""
    nb.cells[position].source = nb.cells[position].source.rstrip("\n") + "\n" + text
    return nb


def strip_metadata(nb):
    """Every cell's sockcourse metadata removed, as some editors do."""
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        cell.metadata.pop("sockcourse", None)
    nb.metadata.pop("sockcourse", None)
    return nb


def write(nb, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path
