"""Build the homework notebooks from their sources: student copies without the solutions, tested solutions.

A source, `homework-source/NN_name.ipynb` (named after its chapter), is an
ordinary notebook whose cells carry metadata `{"sockcourse": {"role": ...,
"question": "qN"}}`: an `intro`, `setup` cells, then for each question a
`question` cell (starting with the heading `### qN · Title`), one or more
`answer` cells and one `check` cell (`check.qN(name)`), and a `summary` last.
An answer cell holds the instructor's solution between two line markers,
indented like the code around them:

    def read_frames(sock):
        # BEGIN SOLUTION: keep reading until the frame is whole
        ...the solution...
        # END SOLUTION

From it, `assign` makes, each step failing with one sentence that names the
notebook, the cell and the line:

1. the lint (`lint`): every answer cell has exactly one BEGIN/END pair, never
   nested, and no other cell has a marker; every question of the chapter's
   module (`sockcourse.homework.chNN`) has its question, answer and check
   cells, and every question in the notebook is one of the module's; every
   check cell is exactly `check.qN(name)`, with the module's name for qN;
2. the student copy (`student_copy`): each region becomes
   `raise NotImplementedError("q1: write read_frames")`, indented like the
   marker, after a `# TODO: ...` line when the marker carries a prompt (a
   helper in an answer cell of its own gets its own name there); no
   outputs, no execution counts, no kernel or widget state; the course's cells
   are marked `editable: false` and `deletable: false` (a nudge: the grader
   never depends on it); the notebook's metadata says which chapter and
   which source it came from;
3. the leak scan (`leaks`): no line of a solution appears anywhere in the
   student copy, and no output is left in it;
4. the solutions copy (`solutions_copy`): the marker lines dropped, run top to
   bottom in a fresh kernel with its outputs kept (so that an instructor can
   read what the checks print), then graded twice by `grade.grade_file`; every
   question must score full marks both times, the same both times (a check
   that passes once and fails once is flaky);
5. the inverted validation: the student copy, run top to bottom in a fresh
   kernel, raises nothing, and graded, scores 0 with "not-attempted" on every
   question and no other problem.

Notebooks are written deterministically (`render`: nbformat's JSON with sorted
keys, no timestamps, no random cell ids, a final newline), so that the
committed student copies equal a fresh build byte for byte, which
`assign(..., check=True)` verifies without writing anything.

The runs and gradings of several chapters can go on at once (`jobs`), each
chapter in a process of its own.

Cells are numbered from 1 in every message ("cell 4 of 12"), as a reader
counts them down the page; lines within a cell are numbered from 1 too.
"""

from __future__ import annotations

import ast
import copy
import hashlib
import importlib
import json
import keyword
import os
import re
import stat
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..core.errors import MissingFileError, SockcourseError, UsageError

__all__ = [
    "AssignFailed", "ChapterReport", "KERNELSPEC", "Source", "assign", "build_solutions", "build_student",
    "check_student", "execute", "find_sources", "leaks", "lint", "load", "render", "solutions_copy",
    "student_copy",
]

#: The roles a cell of a source may have (metadata sockcourse.role), and which of them name a question.
ROLES = ("intro", "setup", "question", "answer", "check", "written", "summary")
QUESTION_ROLES = ("question", "answer", "check", "written")
#: The cells that are the course's, not the student's: the student copy asks Jupyter to keep them as they are.
LOCKED_ROLES = ("intro", "setup", "question", "check", "summary")

#: What every homework notebook declares, as the chapter notebooks do (tools/run_notebooks.py).
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}

#: Cell metadata the copies keep; the rest (timestamps, collapsed/scrolled, a front end's own) goes.
KEPT_CELL_METADATA = ("sockcourse", "tags")

#: Seconds one cell of a solutions or student copy may run: a public check stays under about 30 s.
CELL_TIMEOUT = 120
#: Seconds a kernel may take to start on a slow, busy machine.
STARTUP_TIMEOUT = 60
#: Seconds one chapter's whole build may take (running it, grading it twice) before it counts as lost.
CHAPTER_BOUND = 1800

#: The seed of the gradings: the same each time, so that two gradings of the solutions must agree exactly.
GRADING_SEED = 1

#: What the written questions' answer regions become in the student copy.
WRITTEN_STUB = "_Your answer here._"

_BEGIN = re.compile(r"^(?P<indent>[ \t]*)# BEGIN SOLUTION(?::[ \t]*(?P<prompt>.*?))?[ \t]*$")
_END = re.compile(r"^(?P<indent>[ \t]*)# END SOLUTION[ \t]*$")
_BEGIN_WRITTEN = re.compile(r"^[ \t]*<!-- BEGIN SOLUTION -->[ \t]*$")
_END_WRITTEN = re.compile(r"^[ \t]*<!-- END SOLUTION -->[ \t]*$")
# Anything that looks like a marker: a misspelt one must not slip through as plain code.
_ANY_MARKER = re.compile(r"\b(BEGIN|END)[ _]+SOLUTION\b", re.IGNORECASE)
_HEADING = re.compile(r"^###[ \t]+(?P<id>q\d+)[ \t]+·[ \t]+(?P<title>\S.*?)[ \t]*$")
_QUESTION_ID = re.compile(r"q\d+")
_CELL_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_STRING = re.compile(r"""(?:[rbuRBUfF]{0,2})(?:'[^']+'|"[^"]+")""")


class AssignFailed(SockcourseError):
    """The sources, or the copies built from them, broke a rule; `problems` holds one sentence each."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))

    def __reduce__(self):
        # Whole across a process boundary (a pool of builds): the default would rebuild it from the joined text.
        return (type(self), (self.problems,))


# -- reading a source ------------------------------------------------------------------------
@dataclass
class Region:
    """One solution region of a cell: the marker lines' numbers (from 0) and the prompt."""

    begin: int
    end: int
    indent: str
    prompt: str | None


@dataclass
class Cell:
    """One cell of a source, read: its role, its question and its solution regions."""

    index: int
    node: object              # the nbformat cell
    role: str | None
    question: str | None
    regions: list[Region] = field(default_factory=list)

    @property
    def lines(self) -> list[str]:
        return self.node.source.split("\n")


@dataclass
class Source:
    """A homework source, read and linted: what the copies are built from."""

    path: Path
    name: str                 # how messages name it (the path as given)
    chapter: str              # "01_tcp"
    module: object            # sockcourse.homework.ch01
    notebook: object          # the nbformat notebook, as read
    cells: list[Cell]
    sha256: str

    @property
    def questions(self) -> dict:
        return {q.id: q for q in self.module.QUESTIONS}


def find_sources(sources) -> list[Path]:
    """The source notebooks `sources` names: a folder's NN_*.ipynb in order, or one notebook."""
    path = Path(sources)
    if path.is_dir():
        found = sorted(p for p in path.glob("[0-9][0-9]_*.ipynb") if p.is_file())
        if not found:
            raise UsageError(f"The folder {str(path)!r} holds no homework source (a notebook named like "
                             f"01_tcp.ipynb); pass the folder of the sources, such as homework-source.")
        return found
    if path.suffix != ".ipynb":
        raise UsageError(f"{str(path)!r} is neither a folder of homework sources nor a notebook; pass a folder "
                         f"such as homework-source, or one notebook such as homework-source/01_tcp.ipynb.")
    if not path.is_file():
        raise MissingFileError(f"There is no homework source at {str(path)!r}; check the spelling, or pass "
                               f"the folder homework-source to build every chapter.")
    return [path]


def load(path, *, name: str | None = None) -> Source:
    """Read and lint one source; raise AssignFailed with every problem found."""
    source, problems = _read(Path(path), name or str(path))
    if problems:
        raise AssignFailed(problems)
    return source


def lint(path, *, name: str | None = None) -> list[str]:
    """Every problem of one source, one sentence each (empty when it is fit to build from)."""
    return _read(Path(path), name or str(path))[1]


def _read(path: Path, name: str) -> tuple[Source | None, list[str]]:
    import nbformat  # the instructor's tools need it; `import sockcourse.homework` must not

    try:
        notebook = nbformat.read(path, as_version=4)
        nbformat.validate(notebook)
    except FileNotFoundError:
        return None, [f"{name}: there is no such file; check the spelling."]
    except Exception as exc:  # noqa: BLE001 - JSON, schema and encoding errors all mean "not a notebook"
        return None, [f"{name} could not be read as a notebook ({_one_line(exc)}); open it in Jupyter to repair it."]
    problems: list[str] = []
    chapter = path.stem
    module = _chapter_module(chapter, name, problems)
    cells = [_read_cell(i, node, name, len(notebook.cells), problems) for i, node in enumerate(notebook.cells)]
    if module is not None:
        _lint_structure(cells, module, name, problems)
    sha = hashlib.sha256(_canonical(notebook).encode("utf-8")).hexdigest()
    return Source(path, name, chapter, module, notebook, cells, sha), problems


def _chapter_module(chapter: str, name: str, problems: list[str]):
    from . import CHAPTERS  # the homework package's table of chapters, not the sockcourse face

    module_name = CHAPTERS.get(chapter)
    if module_name is None:
        problems.append(f"{name}: there is no chapter {chapter!r} in sockcourse.homework.CHAPTERS (it has "
                        f"{', '.join(CHAPTERS)}); name the source after its chapter, or add the chapter there.")
        return None
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        problems.append(f"{name}: the chapter's module {module_name} could not be imported "
                        f"({_one_line(exc)}); it must define the questions this notebook asks.")
        return None
    if getattr(module, "CHAPTER", None) != chapter or not getattr(module, "QUESTIONS", None):
        problems.append(f"{name}: {module_name} must define CHAPTER = {chapter!r} and its list QUESTIONS, "
                        f"but has CHAPTER = {getattr(module, 'CHAPTER', None)!r} and "
                        f"{len(getattr(module, 'QUESTIONS', None) or [])} questions.")
        return None
    return module


def _where(name: str, cell: Cell | int, total: int, line: int | None = None) -> str:
    index = cell.index if isinstance(cell, Cell) else cell
    what = ""
    if isinstance(cell, Cell) and cell.role:
        what = f" ({cell.question + ' ' if cell.question else ''}{cell.role})"
    at_line = f", line {line + 1}" if line is not None else ""
    return f"{name}, cell {index + 1} of {total}{what}{at_line}"


def _read_cell(index: int, node, name: str, total: int, problems: list[str]) -> Cell:
    meta = node.metadata.get("sockcourse")
    cell = Cell(index, node, None, None)
    here = _where(name, index, total)
    if not isinstance(meta, dict) or meta.get("role") not in ROLES:
        got = meta.get("role") if isinstance(meta, dict) else None
        problems.append(f"{here}: the cell's metadata sockcourse.role is {got!r}, but must be one of "
                        f"{', '.join(ROLES)}; give every cell its role.")
        _lint_markers_elsewhere(cell, name, total, problems)
        return cell
    cell.role, cell.question = meta["role"], meta.get("question")
    here = _where(name, cell, total)
    kind = "markdown" if cell.role in ("intro", "question", "written") else "code"
    if node.cell_type != kind and cell.role != "summary":  # a summary may have prose before its code
        problems.append(f"{here}: a {cell.role} cell must be a {kind} cell, but this one is {node.cell_type}.")
    if cell.role in QUESTION_ROLES:
        if not isinstance(cell.question, str) or not _QUESTION_ID.fullmatch(cell.question):
            problems.append(f"{here}: a {cell.role} cell needs metadata sockcourse.question naming its question, "
                            f"such as 'q1', but has {cell.question!r}.")
            cell.question = None
    elif cell.question is not None:
        problems.append(f"{here}: a {cell.role} cell belongs to no question, but its metadata says "
                        f"question {cell.question!r}; remove sockcourse.question from it.")
        cell.question = None
    if cell.role == "answer":
        _read_regions(cell, name, total, problems)
    elif cell.role == "written":
        _read_written(cell, name, total, problems)
    else:
        _lint_markers_elsewhere(cell, name, total, problems)
    return cell


def _read_regions(cell: Cell, name: str, total: int, problems: list[str]) -> None:
    """The BEGIN/END pair of an answer cell: exactly one, well formed, indented alike, not empty."""
    open_region = None
    said = len(problems)
    for number, line in enumerate(cell.lines):
        begin, end = _BEGIN.match(line), _END.match(line)
        here = _where(name, cell, total, number)
        if begin:
            if open_region is not None:
                problems.append(f"{here}: a second BEGIN SOLUTION before the END SOLUTION of the one on line "
                                f"{open_region.begin + 1}; solution regions cannot nest, so close the first one.")
                continue
            open_region = Region(number, -1, begin["indent"], begin["prompt"] or None)
        elif end:
            if open_region is None:
                problems.append(f"{here}: an END SOLUTION with no BEGIN SOLUTION before it; add the BEGIN "
                                f"line where the solution starts, or remove this line.")
                continue
            if end["indent"] != open_region.indent:
                problems.append(f"{here}: the END SOLUTION is indented differently from its BEGIN SOLUTION on "
                                f"line {open_region.begin + 1}; indent both markers like the code between them.")
            open_region.end = number
            if not any(text.strip() for text in cell.lines[open_region.begin + 1:number]):
                problems.append(f"{here}: the solution region that starts on line {open_region.begin + 1} is "
                                f"empty; put the solution between the markers.")
            cell.regions.append(open_region)
            open_region = None
        elif _ANY_MARKER.search(line):
            problems.append(f"{here}: {line.strip()!r} is not a marker as assign reads them; write "
                            f"'# BEGIN SOLUTION' or '# END SOLUTION' alone on its line, with a single '#' "
                            f"(a prompt may follow a colon: '# BEGIN SOLUTION: what to do').")
    if open_region is not None:
        problems.append(f"{_where(name, cell, total, open_region.begin)}: this BEGIN SOLUTION has no END "
                        f"SOLUTION after it; add '# END SOLUTION' where the solution ends.")
    if len(cell.regions) != 1 and len(problems) == said:
        problems.append(f"{_where(name, cell, total)}: an answer cell must hold exactly one solution region "
                        f"(# BEGIN SOLUTION ... # END SOLUTION), but this one holds {len(cell.regions)}; "
                        f"split the cell, or mark the solution.")


def _read_written(cell: Cell, name: str, total: int, problems: list[str]) -> None:
    """The one <!-- BEGIN SOLUTION --> ... <!-- END SOLUTION --> region of a written (markdown) answer."""
    open_region = None
    for number, line in enumerate(cell.lines):
        here = _where(name, cell, total, number)
        if _BEGIN_WRITTEN.match(line) and open_region is None:
            open_region = Region(number, -1, "", None)
        elif _END_WRITTEN.match(line) and open_region is not None:
            open_region.end = number
            cell.regions.append(open_region)
            open_region = None
        elif _ANY_MARKER.search(line):
            problems.append(f"{here}: {line.strip()!r} is out of place; a written answer holds one region, "
                            f"'<!-- BEGIN SOLUTION -->' then '<!-- END SOLUTION -->', each alone on its line.")
    if open_region is not None or len(cell.regions) != 1:
        problems.append(f"{_where(name, cell, total)}: a written answer must hold exactly one region "
                        f"'<!-- BEGIN SOLUTION -->' ... '<!-- END SOLUTION -->'; mark the model answer.")


def _lint_markers_elsewhere(cell: Cell, name: str, total: int, problems: list[str]) -> None:
    for number, line in enumerate(cell.node.source.split("\n")):
        if _ANY_MARKER.search(line):
            problems.append(f"{_where(name, cell, total, number)}: a solution marker outside an answer cell; "
                            f"only answer cells (metadata sockcourse.role 'answer') may hold solutions, so "
                            f"move it, or give the cell the role 'answer'.")


def _lint_structure(cells: list[Cell], module, name: str, problems: list[str]) -> None:
    """The notebook against the chapter's module: which cells each question has, and in what order."""
    total = len(cells)
    questions = {q.id: q for q in module.QUESTIONS}
    by_question: dict[str, dict[str, list[Cell]]] = {}
    for cell in cells:
        if cell.question:
            by_question.setdefault(cell.question, {}).setdefault(cell.role, []).append(cell)
    for qid, roles in by_question.items():
        if qid not in questions and "written" not in roles:
            first = min(c.index for group in roles.values() for c in group)
            problems.append(f"{_where(name, first, total)}: the notebook asks question {qid!r}, which "
                            f"{module.__name__} does not define (it defines {', '.join(questions)}); "
                            f"add it there, or fix the cell's metadata.")
    for qid, question in questions.items():
        roles = by_question.get(qid, {})
        missing = [role for role in ("question", "answer", "check") if not roles.get(role)]
        if missing:
            problems.append(f"{name}: {module.__name__} defines {qid} ({question.answer}), but the notebook has "
                            f"no {' and no '.join(missing)} cell for it; every question needs a question, an "
                            f"answer and a check cell.")
        for role in ("question", "check"):
            for extra in roles.get(role, [])[1:]:
                problems.append(f"{_where(name, extra, total)}: a second {role} cell for {qid}; each question "
                                f"has one, so merge them.")
        for cell in roles.get("question", [])[:1]:
            _lint_heading(cell, question, name, total, problems)
        for cell in roles.get("check", [])[:1]:
            expected = f"check.{qid}({question.answer})"
            if cell.node.source.strip() != expected:
                problems.append(f"{_where(name, cell, total)}: a check cell must be exactly {expected!r}, but "
                                f"holds {_quote(cell.node.source)}; the grader finds the answer by that call.")
        _lint_order(roles, qid, name, total, problems)
    for cell in cells:
        if cell.role == "answer" and len(cell.regions) == 1 and cell.question in questions:
            _lint_stub_place(cell, questions[cell.question], name, total, problems)
    _lint_frame(cells, module, name, problems)


def _lint_heading(cell: Cell, question, name: str, total: int, problems: list[str]) -> None:
    # The grader finds the questions by these headings when an editor dropped the cells' metadata.
    # The title is the author's to word (it may mark up code); only the question's id must match.
    first = next((line for line in cell.lines if line.strip()), "")
    heading = _HEADING.match(first)
    if not heading or heading["id"] != question.id:
        problems.append(f"{_where(name, cell, total, cell.lines.index(first))}: a question cell starts with its "
                        f"heading, such as {'### ' + question.id + ' · ' + question.title!r}, but this one starts "
                        f"with {_quote(first)}; the grader finds {question.id} by it.")


def _lint_order(roles: dict, qid: str, name: str, total: int, problems: list[str]) -> None:
    # The question comes first, then its answers, then the check that calls them.
    heads = roles.get("question", [])
    checks = roles.get("check", [])
    for cell in roles.get("answer", []) + roles.get("written", []):
        if heads and cell.index < heads[0].index:
            problems.append(f"{_where(name, cell, total)}: this {cell.role} cell comes before the question "
                            f"cell of {qid} (cell {heads[0].index + 1}); move it below the question.")
        if cell.role == "answer" and checks and cell.index > checks[0].index:
            problems.append(f"{_where(name, cell, total)}: this answer cell comes after the check cell of "
                            f"{qid} (cell {checks[0].index + 1}); move it above the check.")


def _lint_frame(cells: list[Cell], module, name: str, problems: list[str]) -> None:
    """The cells around the questions: an intro first, a setup that imports the checks, a summary last."""
    total = len(cells)
    if not cells or cells[0].role != "intro":
        problems.append(f"{name}: the first cell must be the intro (a markdown cell with role 'intro') that says "
                        f"what the homework is and how it is checked.")
    short = module.__name__.rpartition(".")[2]
    setups = [c for c in cells if c.role == "setup"]
    if not any(_imports_check(c.node.source, short) for c in setups):
        where = _where(name, setups[0], total) if setups else name
        problems.append(f"{where}: the setup cells must import this chapter's checks as "
                        f"'from sockcourse.homework import {short} as check', which the check cells call.")
    # Prose may introduce the summary; the one summary code cell ends the notebook.
    summaries = [c for c in cells if c.role == "summary" and c.node.cell_type == "code"]
    if len(summaries) != 1 or summaries[0].index != total - 1:
        problems.append(f"{name}: the last cell, and only it, must be the summary code cell (role 'summary', "
                        f"holding 'check.summary(globals())'), but the notebook has {len(summaries)} such "
                        f"cell(s){' and the last is cell ' + str(summaries[-1].index + 1) if summaries else ''}.")
    for cell in summaries:
        if cell.node.source.strip() != "check.summary(globals())":
            problems.append(f"{_where(name, cell, total)}: a summary code cell must be exactly "
                            f"'check.summary(globals())', but holds {_quote(cell.node.source)}.")


def _imports_check(text: str, short: str) -> bool:
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return False
    return any(isinstance(node, ast.ImportFrom) and node.module == "sockcourse.homework" and node.level == 0
               and any(alias.name == short and alias.asname == "check" for alias in node.names)
               for node in ast.walk(tree))


def _lint_stub_place(cell: Cell, question, name: str, total: int, problems: list[str]) -> None:
    """The student's cell must compile, and its stub must sit in a function, raising only when called.

    A stub at the top of a cell (or in a class body) would raise as soon as
    the student runs the cell: a red box in a notebook that has to run
    top to bottom without one.
    """
    student = _stub_cell_text(cell, question)
    region = cell.regions[0]
    solution = _solution_cell_text(cell)
    for label, text in (("the solutions copy", solution), ("the student copy", student)):
        try:
            tree = ast.parse(_plain_python(text))
        except SyntaxError as exc:
            line = _source_line((exc.lineno or 1) - 1, region, student=label == "the student copy")
            problems.append(f"{_where(name, cell, total, line)}: in {label}, this cell is not valid Python "
                            f"({exc.msg}); check the code and the markers' indentation.")
            return
    stub_line = region.begin + 1 + (1 if region.prompt else 0)  # 1-based in the student copy
    if not _inside_function(tree, stub_line):
        problems.append(f"{_where(name, cell, total, region.begin)}: this solution region is not inside a "
                        f"function body, so its stub would raise as soon as the student runs the cell; put the "
                        f"markers inside the def of {question.answer} (or of one of its methods).")


def _source_line(line: int, region: Region, *, student: bool) -> int:
    """The source's line (from 0) for a line of the student or solutions copy of the same cell."""
    if line < region.begin:
        return line
    if student:  # the region became the stub, after a TODO line when the marker has a prompt
        stub = 2 if region.prompt else 1
        return region.begin if line < region.begin + stub else line - stub + region.end + 1
    # the solutions copy lost the two marker lines
    return line + 1 if line < region.end - 1 else line + 2


def _plain_python(text: str) -> str:
    # IPython's own syntax (%magic, !shell) is not Python; ast reads the cell as the kernel would run it.
    if re.search(r"^\s*[%!]", text, re.MULTILINE):
        from IPython.core.inputtransformer2 import TransformerManager
        return TransformerManager().transform_cell(text)
    return text


def _inside_function(tree: ast.AST, line: int) -> bool:
    def visit(node, in_function: bool) -> bool:
        for child in ast.iter_child_nodes(node):
            here = in_function
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                here = True
            elif isinstance(child, ast.ClassDef):
                here = False  # a class body runs when the cell runs
            if isinstance(child, ast.Raise) and child.lineno == line:
                return here
            if visit(child, here):
                return True
        return False
    return visit(tree, False)


# -- building the copies -----------------------------------------------------------------------
def _stub(question, name: str | None = None) -> str:
    return f'raise NotImplementedError("{question.id}: write {name or question.answer}")'


def _written_name(cell: Cell, region: Region) -> str | None:
    """The top-level function or class the region is in, when a question's answer spans several of them."""
    try:
        tree = ast.parse(_plain_python(_solution_cell_text(cell)))
    except SyntaxError:
        return None  # the lint says why
    line = region.begin + 1  # the region's first line, 1-based, once the BEGIN line is gone
    for node in tree.body:
        if (isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                and node.lineno <= line <= (node.end_lineno or node.lineno)):
            return node.name
    return None


def _stub_cell_text(cell: Cell, question) -> str:
    lines = cell.lines
    out: list[str] = []
    start = 0
    for region in cell.regions:
        out += lines[start:region.begin]
        if region.prompt:
            out.append(f"{region.indent}# TODO: {region.prompt}")
        # "q2: write client_identity" for a helper the answer needs, rather than the answer's name again.
        out.append(region.indent + _stub(question, _written_name(cell, region)))
        start = region.end + 1
    out += lines[start:]
    return "\n".join(out)


def _written_cell_text(cell: Cell) -> str:
    lines = cell.lines
    region = cell.regions[0]
    return "\n".join(lines[:region.begin] + [WRITTEN_STUB] + lines[region.end + 1:])


def _solution_cell_text(cell: Cell) -> str:
    drop = {line for region in cell.regions for line in (region.begin, region.end)}
    return "\n".join(line for number, line in enumerate(cell.lines) if number not in drop)


def student_copy(source: Source):
    """The notebook a student gets: stubs for the solutions, no outputs, the course's cells locked."""
    def text_of(cell: Cell) -> str:
        if cell.role == "answer":
            return _stub_cell_text(cell, source.questions[cell.question])
        if cell.role == "written":
            return _written_cell_text(cell)
        return cell.node.source
    return _copy(source, text_of, lock=True)


def solutions_copy(source: Source):
    """The source with its marker lines dropped and its outputs cleared, ready to run."""
    def text_of(cell: Cell) -> str:
        if cell.role == "written":
            return "\n".join(line for line in cell.lines
                             if not (_BEGIN_WRITTEN.match(line) or _END_WRITTEN.match(line)))
        return _solution_cell_text(cell) if cell.role == "answer" else cell.node.source
    return _copy(source, text_of, lock=False)


def _copy(source: Source, text_of, *, lock: bool):
    import nbformat

    notebook = nbformat.v4.new_notebook()
    seen: set[str] = set()
    for cell in source.cells:
        metadata = {key: copy.deepcopy(cell.node.metadata[key]) for key in KEPT_CELL_METADATA
                    if key in cell.node.metadata}
        if lock and cell.role in LOCKED_ROLES:
            metadata["editable"] = False
            metadata["deletable"] = False
        # The source's own id when it has a usable one, so that a copy changes only where its source did;
        # nbformat would otherwise draw a random one, and every build would differ.
        cell_id = cell.node.get("id")
        if not isinstance(cell_id, str) or not _CELL_ID.match(cell_id) or cell_id in seen:
            cell_id = f"cell-{cell.index + 1}"
        while cell_id in seen:
            cell_id += "-"
        seen.add(cell_id)
        text = text_of(cell)
        if cell.node.cell_type == "code":
            new = nbformat.v4.new_code_cell(text, metadata=metadata, id=cell_id)
        elif cell.node.cell_type == "markdown":
            new = nbformat.v4.new_markdown_cell(text, metadata=metadata, id=cell_id)
            if "attachments" in cell.node:
                new["attachments"] = copy.deepcopy(cell.node["attachments"])
        else:
            new = nbformat.v4.new_raw_cell(text, metadata=metadata, id=cell_id)
        notebook.cells.append(new)
    # Only what a fresh notebook needs: no widget state, no saved kernel or Python version of the author's.
    notebook.metadata = nbformat.from_dict({
        "kernelspec": dict(KERNELSPEC),
        "language_info": {"name": "python"},
        "sockcourse": {"homework": {"chapter": source.chapter, "source_sha256": source.sha256}},
    })
    notebook.nbformat, notebook.nbformat_minor = 4, 5
    nbformat.validate(notebook)
    return notebook


def _canonical(notebook) -> str:
    """A notebook's content without what running it changes (outputs, counts, timings), as one string.

    Its hash names the source in the copies' metadata: running the source in
    Jupyter, or re-indenting its JSON, does not change it; editing a cell does.
    """
    plain = copy.deepcopy(dict(notebook))
    for cell in plain.get("cells", []):
        cell.pop("outputs", None)
        cell.pop("execution_count", None)
        cell.get("metadata", {}).pop("execution", None)
        cell.get("metadata", {}).pop("ExecuteTime", None)
        if isinstance(cell.get("source"), list):
            cell["source"] = "".join(cell["source"])
    return json.dumps(plain, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def render(notebook) -> str:
    """The notebook as the text to write: nbformat's JSON (sorted keys, one-space indent) and a final newline."""
    import nbformat

    text = nbformat.writes(notebook)
    return text if text.endswith("\n") else text + "\n"


def _write(path: Path, text: str) -> bool:
    """Write `text` to `path` unless it already holds exactly that; return whether it changed."""
    try:
        if path.read_text(encoding="utf-8") == text:
            return False
    except (FileNotFoundError, UnicodeDecodeError):
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    # A crash halfway through writing must not leave half a notebook to commit.
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=".ipynb")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as out:
            out.write(text)
        mode = stat.S_IMODE(path.stat().st_mode) if path.exists() else 0o666 & ~_umask()
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
    return True


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# -- the leak scan ---------------------------------------------------------------------------
def _telling(line: str) -> bool:
    """Whether a solution line says something: it names a thing or holds a string, not just `break` or `)`."""
    text = line.strip()
    if not text or text.startswith("#") and not text.lstrip("#").strip():
        return False
    if _STRING.search(text):
        return True
    return any(not keyword.iskeyword(word) for word in _NAME.findall(_STRING.sub("", text)))


def _normal(line: str) -> str:
    return " ".join(line.split())


def leaks(source: Source, student) -> list[str]:
    """Solution lines found in the student copy, and outputs left in it; one sentence each."""
    problems = []
    total = len(source.cells)
    wanted: dict[str, tuple[Cell, int]] = {}
    for cell in source.cells:
        for region in cell.regions:
            for number in range(region.begin + 1, region.end):
                line = cell.lines[number]
                if _telling(line):
                    wanted.setdefault(_normal(line), (cell, number))
    for index, cell in enumerate(student.cells):
        for number, line in enumerate(cell.source.split("\n")):
            found = wanted.get(_normal(line))
            if found is not None:
                origin, origin_line = found
                problems.append(
                    f"{source.name}, cell {index + 1} of {total}, line {number + 1}: the student copy holds "
                    f"{_quote(line)}, a line of the solution in cell {origin.index + 1}, line {origin_line + 1}; "
                    f"a solution pasted outside its markers would reach the students, so remove it (or reword "
                    f"one of the two).")
        if cell.cell_type == "code" and (cell.get("outputs") or cell.get("execution_count") is not None):
            problems.append(f"{source.name}, cell {index + 1} of {total}: the student copy keeps an output or an "
                            f"execution count, which would show a result the student never ran.")
    return problems


# -- running a notebook in a fresh kernel ------------------------------------------------------
def execute(notebook, *, workdir: Path | str, name: str, timeout: float = CELL_TIMEOUT):
    """Run `notebook` top to bottom in a fresh kernel of this Python, in `workdir`; return it, outputs kept.

    The kernel imports this very copy of sockcourse (its folder goes first on
    PYTHONPATH) and never starts in grading mode. The first cell that raises
    stops the run with AssignFailed naming that cell.
    """
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    notebook = copy.deepcopy(notebook)
    env = dict(os.environ)
    env.pop("SOCKCOURSE_GRADING", None)
    package_parent = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join([package_parent] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep)
                                                            if p])
    current = {"index": None}
    total = len(notebook.cells)

    def at() -> str:
        return f"{name}, cell {(current['index'] or 0) + 1} of {total}"

    client = NotebookClient(
        notebook, km=_grader().CurrentEnvKernelManager(kernel_name="python3"),
        timeout=timeout, startup_timeout=STARTUP_TIMEOUT, record_timing=False,
        resources={"metadata": {"path": str(workdir)}},
        extra_arguments=["--IPKernelApp.log_level=ERROR"],
    )
    client.on_cell_start = lambda cell, cell_index: current.update(index=cell_index)
    try:
        client.execute(env=env)
    except CellExecutionError as exc:
        raise AssignFailed([f"{at()}: the cell raised {exc.ename}: {_one_line(exc.evalue)}; the notebook "
                            f"has to run top to bottom without an error."]) from None
    except CellTimeoutError:
        raise AssignFailed([f"{at()}: the cell did not finish within {timeout:g} s; look for a wait "
                            f"without a timeout, or a check that takes too long."]) from None
    except DeadKernelError:
        raise AssignFailed([f"{at()}: the kernel died while running the cell."]) from None
    for cell in notebook.cells:
        cell.metadata.pop("execution", None)
    nbformat.validate(notebook)
    return notebook


# -- grading --------------------------------------------------------------------------------
def _grader():
    try:
        from . import grade
    except ImportError as exc:
        raise AssignFailed([f"The grader (sockcourse.homework.grade) could not be imported ({_one_line(exc)}); "
                            f"the solutions and the student copies are validated by grading them."]) from None
    return grade


def _questions_of(result: dict) -> dict:
    questions = result.get("questions")
    return questions if isinstance(questions, dict) else {}


def _fingerprint(result: dict) -> dict:
    """What two gradings of one notebook must agree on: each question's score, and each condition's outcome."""
    print_keys = ("id", "status", "passed", "points", "max")
    return {qid: (q.get("score"), q.get("max"), q.get("status"),
                  [tuple(c.get(k) for k in print_keys) for c in q.get("conditions") or []])
            for qid, q in sorted(_questions_of(result).items())}


def _full_marks_problems(result: dict, source: Source, label: str) -> list[str]:
    """Sentences for every way one grading of the solutions falls short of full marks on every question."""
    problems = []
    found = _questions_of(result)
    for qid, question in source.questions.items():
        q = found.get(qid)
        if q is None:
            problems.append(f"{label}: the grader reported no result for {qid} ({question.answer}).")
            continue
        score, best = q.get("score"), q.get("max")
        if q.get("status") != "graded" or q.get("result_status") != "passed" or not best or score != best:
            failing = [str(c.get("id")) for c in q.get("conditions") or [] if c.get("status") != "passed"]
            detail = q.get("detail") or q.get("message") or ""
            problems.append(f"{label}: {qid} scored {score} of {best} ({q.get('status')}"
                            f"{', ' + q['result_status'] if q.get('result_status') else ''}"
                            f"{'; conditions not passed: ' + ', '.join(failing) if failing else ''}"
                            f"{'; ' + _one_line(detail) if detail else ''}); the solution must earn full marks.")
    problems += [f"{label}: the grader reported: {_one_line(problem)}." for problem in result.get("problems") or []]
    if result.get("killed"):
        problems.append(f"{label}: the grader had to kill {len(result['killed'])} leftover process(es); the "
                        f"solution must leave nothing running.")
    return problems


def _not_attempted_problems(result: dict, source: Source, label: str) -> list[str]:
    """Sentences for every way one grading of the student copy is not a quiet 0, "not-attempted", throughout."""
    problems = []
    found = _questions_of(result)
    expected = set()
    for qid, question in source.questions.items():
        q = found.get(qid)
        if q is None:
            problems.append(f"{label}: the grader reported no result for {qid} ({question.answer}).")
            continue
        expected.add(f"{qid} not-attempted")
        if q.get("score") != 0 or q.get("status") != "not-attempted" or q.get("result_status") != "not-attempted":
            detail = q.get("detail") or q.get("message") or ""
            problems.append(f"{label}: {qid} scored {q.get('score')} ({q.get('status')}"
                            f"{'; ' + _one_line(detail) if detail else ''}), but the stub of {question.answer} "
                            f"must score 0 and be 'not-attempted'.")
    # The grader lists every question that was not graded as a problem; for stubs, that is the point.
    problems += [f"{label}: the grader reported: {_one_line(problem)}." for problem in result.get("problems") or []
                 if problem not in expected]
    if result.get("killed"):
        problems.append(f"{label}: the grader had to kill {len(result['killed'])} leftover process(es); a stub "
                        f"must leave nothing running.")
    return problems


# -- the builds -----------------------------------------------------------------------------------
@dataclass
class ChapterReport:
    """What one build did for one chapter: where it wrote, what the grader said, the seconds of each step."""

    chapter: str
    source: str
    student: str | None = None
    changed: bool | None = None          # whether the student copy on disk changed
    solutions: str | None = None
    gradings: list = field(default_factory=list)       # the solutions copy's gradings (the grader's dicts)
    student_grading: dict | None = None
    seconds: dict = field(default_factory=dict)
    lines: list = field(default_factory=list)          # what the build has to say, one line each


def _load_all(sources) -> list[Source]:
    paths = find_sources(sources)
    loaded, problems = [], []
    for path in paths:
        source, found = _read(path, _display(path))
        problems += found
        loaded.append(source)
    if problems:
        raise AssignFailed(problems)
    return loaded


def _each(job, tasks: list[tuple], jobs: int, say) -> list[ChapterReport]:
    """Run `job(*task)` for every task, `jobs` at a time in fresh processes; raise every failure at once.

    Each job starts kernels and waits on checks that mostly sleep (link
    delays, slow readers), so two chapters at a time take little more than
    one. A job's lines are said as soon as it ends.
    """
    reports, problems = [], []

    def collect(outcome) -> None:
        if isinstance(outcome, AssignFailed):
            problems.extend(outcome.problems)
        else:
            reports.append(outcome)
            for line in outcome.lines:
                say(line)

    if jobs <= 1 or len(tasks) <= 1:
        for task in tasks:
            collect(_guarded(job, *task))
    else:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed

        # spawn: a fork of a process that runs kernels and threads could inherit a held lock.
        try:
            with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
                futures = [pool.submit(_guarded, job, *task) for task in tasks]
                try:
                    # Each chapter's job has its kernels' own time limits; this bound only keeps a lost
                    # worker from holding the build for ever.
                    for future in as_completed(futures, timeout=CHAPTER_BOUND * -(-len(tasks) // jobs)):
                        collect(future.result())
                except BaseException:
                    for future in futures:
                        future.cancel()
                    raise
        finally:
            _grader().stop_multiprocessing_helpers()
    if problems:
        raise AssignFailed(problems)
    order = {task[0]: number for number, task in enumerate(tasks)}
    return sorted(reports, key=lambda report: order.get(report.source, 0))


def _guarded(job, *task):
    try:
        return job(*task)
    except AssignFailed as exc:
        return exc


def build_student(sources="homework-source", out="notebooks/homework", *, validate: bool = True,
                  jobs: int = 1, log=None) -> list[ChapterReport]:
    """Write the student copies of `sources` into `out`; with `validate`, run and grade each to prove it is 0.

    Every source is linted and leak-scanned before anything is written, so a
    problem in one leaves every copy as it was.
    """
    say = log or _quiet
    loaded = _load_all(sources)
    out = Path(out)
    built, problems = [], []
    for source in loaded:
        started = time.monotonic()
        notebook = student_copy(source)
        problems += leaks(source, notebook)
        report = ChapterReport(source.chapter, source.name, student=_display(out / source.path.name))
        report.seconds["build"] = round(time.monotonic() - started, 3)
        built.append((source, render(notebook), report))
    if problems:
        raise AssignFailed(problems)
    for source, text, report in built:
        report.changed = _write(out / source.path.name, text)
        say(f"{report.student}: {'written' if report.changed else 'unchanged'}.")
    if not validate:
        return [report for _, _, report in built]
    return _each(_validate_student, [(report.source, str(source.path), str(out / source.path.name), report)
                                     for source, _, report in built], jobs, say)


def _validate_student(name: str, source_path: str, path: str, report: ChapterReport) -> ChapterReport:
    """The inverted validation: the copy runs without an error, and the grader gives 0, not-attempted."""
    import nbformat

    source = load(source_path, name=name)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="sockcourse-assign-") as workdir:
        execute(nbformat.read(path, as_version=4), workdir=Path(workdir),
                name=f"{report.student} (the student copy, run top to bottom)")
    report.seconds["run"] = round(time.monotonic() - started, 3)
    started = time.monotonic()
    result = _grader().grade_file(path, chapter=source.chapter, seed=GRADING_SEED)
    report.seconds["grade"] = round(time.monotonic() - started, 3)
    report.student_grading = result
    problems = _not_attempted_problems(result, source, f"{report.student} (the student copy, graded)")
    if problems:
        raise AssignFailed(problems)
    report.lines.append(f"{report.student}: runs without an error and scores 0, not attempted, on every "
                        f"question ({report.seconds['run'] + report.seconds['grade']:.1f} s).")
    return report


def check_student(sources="homework-source", out="notebooks/homework", *, log=None) -> list[ChapterReport]:
    """Verify, writing nothing and starting no kernel, that the copies in `out` equal a fresh build."""
    say = log or _quiet
    loaded = _load_all(sources)
    out = Path(out)
    problems, reports = [], []
    for source in loaded:
        notebook = student_copy(source)
        problems += leaks(source, notebook)
        fresh = render(notebook)
        target = out / source.path.name
        report = ChapterReport(source.chapter, source.name, student=_display(target), changed=False)
        reports.append(report)
        try:
            committed = target.read_text(encoding="utf-8")
        except FileNotFoundError:
            problems.append(f"{report.student} is missing; build it from {source.name} with 'make student' "
                            f"(python -m sockcourse assign --student {_display(out)}) and commit it.")
            report.changed = True
            continue
        if committed != fresh:
            line = _first_difference(committed, fresh)
            problems.append(f"{report.student} differs from a fresh build of {source.name} (first at line {line}); "
                            f"run 'make student' and commit the result, and edit the source, never the copy.")
            report.changed = True
        else:
            say(f"{report.student}: equals a fresh build.")
    if Path(sources).is_dir():
        names = {source.path.name for source in loaded}
        for stale in sorted(out.glob("[0-9][0-9]_*.ipynb")):
            if stale.name not in names:
                problems.append(f"{_display(stale)} has no source in {_display(Path(sources))}; remove it, or "
                                f"add its source.")
    if problems:
        raise AssignFailed(problems)
    return reports


def build_solutions(sources="homework-source", out="build/solutions", *, runs: int = 2, jobs: int = 1,
                    log=None) -> list[ChapterReport]:
    """Write the executed solutions copies into `out`, and prove each earns full marks `runs` times alike."""
    say = log or _quiet
    loaded = _load_all(sources)
    out = Path(out)
    tasks = [(source.name, str(source.path), str(out / source.path.name), runs) for source in loaded]
    return _each(_one_solution, tasks, jobs, say)


def _one_solution(name: str, source_path: str, path: str, runs: int) -> ChapterReport:
    source = load(source_path, name=name)
    report = ChapterReport(source.chapter, source.name, solutions=_display(Path(path)))
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="sockcourse-assign-") as workdir:
        notebook = execute(solutions_copy(source), workdir=Path(workdir),
                           name=f"{report.solutions} (the solutions copy, run top to bottom)")
    _write(Path(path), render(notebook))
    report.seconds["run"] = round(time.monotonic() - started, 3)
    grade = _grader()
    for run in range(1, runs + 1):
        started = time.monotonic()
        result = grade.grade_file(path, chapter=source.chapter, seed=GRADING_SEED)
        report.seconds[f"grade{run}"] = round(time.monotonic() - started, 3)
        report.gradings.append(result)
        problems = _full_marks_problems(result, source, f"{report.solutions} (graded, run {run} of {runs})")
        if problems:
            raise AssignFailed(problems)
    first = _fingerprint(report.gradings[0])
    for run, result in enumerate(report.gradings[1:], start=2):
        if _fingerprint(result) != first:
            changed = [qid for qid in first if first[qid] != _fingerprint(result).get(qid)]
            raise AssignFailed([f"{report.solutions}: grading run {run} differs from run 1 on "
                                f"{', '.join(changed)}, though both scored full marks; a condition's outcome "
                                f"depends on chance or timing, so make it deterministic."])
    total = sum(q.get("max") or 0 for q in _questions_of(report.gradings[0]).values())
    report.lines.append(f"{report.solutions}: run, then graded {runs} times: full marks ({total} points) each "
                        f"time, alike ({sum(report.seconds.values()):.1f} s).")
    return report


def assign(sources="homework-source", *, student="notebooks/homework", solutions="build/solutions",
           check: bool = False, validate: bool = True, jobs: int = 1, log=None) -> list[ChapterReport]:
    """Build what is asked: student copies into `student`, solutions into `solutions` (None skips either).

    With `check`, nothing is written and no kernel starts: the student copies
    in `student` must equal a fresh build (the solutions are not looked at).
    `jobs` chapters are run and graded at a time.
    """
    if check:
        if student is None:
            raise UsageError("assign --check compares the student copies with a fresh build, so it needs "
                             "--student DIR (such as notebooks/homework).")
        return check_student(sources, student, log=log)
    reports = []
    if student is not None:
        reports += build_student(sources, student, validate=validate, jobs=jobs, log=log)
    if solutions is not None:
        reports += build_solutions(sources, solutions, jobs=jobs, log=log)
    return reports


def _quiet(line: str) -> None:
    pass


# -- small helpers ------------------------------------------------------------------------------
def _first_difference(old: str, new: str) -> int:
    for number, (a, b) in enumerate(zip(old.split("\n"), new.split("\n")), start=1):
        if a != b:
            return number
    return min(old.count("\n"), new.count("\n")) + 1


def _display(path: Path) -> str:
    """A path as messages show it: relative to the working directory when it is inside it."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _one_line(text) -> str:
    return " ".join(str(text).split())


def _quote(text: str, limit: int = 70) -> str:
    text = _one_line(text)
    return repr(text if len(text) <= limit else text[:limit - 1] + "…")
