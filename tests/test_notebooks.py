"""Checks on the course notebooks that nbval's output comparison does not make.

nbval (configured in pyproject.toml) re-runs each notebook once and compares
its outputs with the stored ones, through tests/nbval_sanitize.cfg. This file
adds what that comparison cannot see:
- hygiene of the committed files: valid, fully executed in order, no errors,
  no paths of the author's machine;
- the sanitizer's rules, each checked against sample strings and real sockets;
- "Run All" twice in one kernel: no cell fails on the second run, and nothing
  (thread, socket, server) is left behind.

SOCKCOURSE_NOTEBOOKS=<folder or .ipynb> points these tests at other notebooks.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import os
import re
import socket
import time
import tokenize
from collections import OrderedDict
from functools import lru_cache
from itertools import chain
from pathlib import Path

import nbformat
import psutil
import pytest
from IPython.core.displayhook import DisplayHook
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
from nbformat.v4 import new_code_cell, new_notebook
from nbval.plugin import find_comment_markers, find_metadata_tags, get_sanitize_patterns

import sockcourse

REPO = Path(__file__).resolve().parents[1]
SANITIZE_CFG = REPO / "tests" / "nbval_sanitize.cfg"
FIX = "run `make notebooks` (tools/run_notebooks.py) and commit the re-executed notebook"

#: How long leftovers may take to go away after the second run, in seconds:
#: a server's stop() has returned by then, but a thread may still be exiting.
SETTLE_SECONDS = 3.0


def _load_runner():
    # tools/ is not a package; the runner holds the one definition of "a kernel
    # of this environment", which these tests must share with it.
    spec = importlib.util.spec_from_file_location("run_notebooks", REPO / "tools" / "run_notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


runner = _load_runner()


# -- which notebooks ---------------------------------------------------------

def notebook_paths() -> list[Path]:
    override = os.environ.get("SOCKCOURSE_NOTEBOOKS")
    where = Path(override) if override else REPO / "notebooks"
    if where.is_file():
        return [where]
    return sorted(p for p in where.glob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)


NOTEBOOKS = notebook_paths()


def nb_name(path: Path) -> str:
    return runner.display_path(path)


def read(path: Path):
    # NO_CONVERT: validate the file as written, not an upgraded copy of it.
    return nbformat.read(path, as_version=nbformat.NO_CONVERT)


def test_override_names_notebooks():
    override = os.environ.get("SOCKCOURSE_NOTEBOOKS")
    if override:
        assert NOTEBOOKS, (f"SOCKCOURSE_NOTEBOOKS={override!r} names no notebook; expected a .ipynb "
                           f"file or a folder that holds some, such as notebooks/.")


# -- hygiene: each check returns its problems as sentences -------------------

def output_texts(output) -> list[str]:
    """The text in one stored output that could show a path (not base64 images)."""
    if output.get("output_type") == "stream":
        return [output.get("text", "")]
    if output.get("output_type") == "error":
        return [output.get("ename", ""), output.get("evalue", "")] + list(output.get("traceback", []))
    texts = []
    for mime, value in output.get("data", {}).items():
        if mime in ("image/png", "image/jpeg", "image/gif"):
            continue
        texts.append(value if isinstance(value, str) else json.dumps(value))
    return texts


def code_cells(nb):
    return [(index, cell) for index, cell in enumerate(nb.cells) if cell.cell_type == "code"]


def problems_validity(nb) -> list[str]:
    try:
        nbformat.validate(nb)
    except nbformat.ValidationError as exc:
        return [f"is not a valid notebook ({exc.message}); open and save it in JupyterLab, then {FIX}"]
    return []


def problems_kernelspec(nb) -> list[str]:
    name = nb.metadata.get("kernelspec", {}).get("name")
    if name != "python3":
        return [f"declares the kernel {name!r}, but the course runs on 'python3'; {FIX} (it sets the kernel)"]
    return []


def problems_execution(nb) -> list[str]:
    cells = code_cells(nb)
    if cells and all(cell.get("execution_count") is None for _, cell in cells):
        return [f"no cell was ever run (the notebook was saved without outputs); {FIX}"]
    problems = []
    for index, cell in cells:
        if cell.get("execution_count") is None:
            # nbval compares nothing for a cell that was never run.
            hint = "delete the empty cell" if not cell.source.strip() else FIX
            problems.append(f"cell {index} was never run; {hint}")
        elif not cell.get("outputs"):
            problems.append(f"cell {index} has no stored output, so nbval checks nothing of it; "
                            f"end it with an expression or a print() that shows its effect, then {FIX}")
    return problems


def problems_semicolons(nb) -> list[str]:
    # nbval runs cells with store_history=False, and then IPython does not see
    # the ';' (nbval issue #194, IPython issue #14162): the result it hides in
    # JupyterLab shows up in nbval's run only, and the cell fails.
    problems = []
    for index, cell in code_cells(nb):
        try:
            hides = DisplayHook.semicolon_at_end_of_expression(cell.source)
        except (SyntaxError, tokenize.TokenError):
            continue  # not Python (a %%bash cell, say); the kernel will complain if it matters
        if hides:
            problems.append(f"cell {index} ends with ';' to hide its result, which nbval ignores "
                            f"(nbval issue #194); assign the result instead (ax = ...), then {FIX}")
    return problems


def problems_markers(nb) -> list[str]:
    # nbval obeys a marker comment only when the comment is the marker alone
    # (nbval.plugin.find_comment_markers): "# NBVAL_IGNORE_OUTPUT  (why)" is
    # read as a plain comment, and the cell's output is compared after all.
    problems = []
    for index, cell in code_cells(nb):
        for line in cell.source.splitlines():
            if line.strip().startswith("#") and "NBVAL_" in line and not list(find_comment_markers(line)):
                problems.append(f"cell {index} has the comment {line.strip()!r}, which nbval does not read as a "
                                f"marker; put the marker alone on its line and the reason on the next")
    return problems


def problems_errors(nb) -> list[str]:
    problems = []
    for index, cell in code_cells(nb):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                problems.append(f"cell {index} stored an error ({output.get('ename')}: {output.get('evalue')}); "
                                f"catch and explain the exception in the cell, then {FIX}")
    return problems


def problems_counts(nb) -> list[str]:
    problems = []
    for expected, (index, cell) in enumerate(code_cells(nb), start=1):
        count = cell.get("execution_count")
        if count != expected:
            problems.append(f"cell {index} has execution count {count}, expected {expected} "
                            f"(the notebook was not run once top to bottom); {FIX}")
            break  # every later count is off too; one line says it
        for output in cell.get("outputs", []):
            if output.get("output_type") == "execute_result" and output.get("execution_count") != count:
                problems.append(f"cell {index} shows a result numbered {output.get('execution_count')} "
                                f"but is numbered {count}; {FIX}")
    return problems


def machine_markers() -> list[str]:
    return ["/tmp/", "/var/folders/", "/home/", "/root/", "/Users/", str(REPO)]


def problems_paths(nb, sanitize) -> list[str]:
    # Sanitized first: a random temp dir that nbval ignores anyway (a UNIX
    # server's socket path) is not the author's machine showing through.
    problems = []
    markers = machine_markers()
    for index, cell in code_cells(nb):
        for output in cell.get("outputs", []):
            for text in output_texts(output):
                clean = sanitize(text)
                for marker in markers:
                    line = next((line for line in clean.splitlines() if marker in line), None)
                    if line is not None:
                        problems.append(f"cell {index} shows a path of this machine ({marker!r} in {line.strip()!r}); "
                                        f"show a path relative to the notebook or os.path.basename(...), then {FIX}")
                        break
    return problems


def fail_with(path: Path, problems: list[str]) -> None:
    if problems:
        pytest.fail(f"{nb_name(path)}:\n  " + "\n  ".join(problems), pytrace=False)


notebook_param = pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])


@notebook_param
def test_notebook_is_valid(path):
    fail_with(path, problems_validity(read(path)))


@notebook_param
def test_notebook_kernel_is_python3(path):
    fail_with(path, problems_kernelspec(read(path)))


@notebook_param
def test_every_code_cell_ran_and_shows_output(path):
    fail_with(path, problems_execution(read(path)))


@notebook_param
def test_no_cell_hides_its_result_with_a_semicolon(path):
    fail_with(path, problems_semicolons(read(path)))


@notebook_param
def test_nbval_markers_are_ones_nbval_reads(path):
    fail_with(path, problems_markers(read(path)))


@notebook_param
def test_no_stored_errors(path):
    fail_with(path, problems_errors(read(path)))


@notebook_param
def test_execution_counts_run_1_to_n(path):
    fail_with(path, problems_counts(read(path)))


@notebook_param
def test_no_paths_of_this_machine(path):
    fail_with(path, problems_paths(read(path), sanitize))


def _notebook(*sources, outputs=None, counts=None, kernel="python3"):
    nb = new_notebook(cells=[new_code_cell(source) for source in sources])
    nb.metadata["kernelspec"] = {"name": kernel, "display_name": "Python 3", "language": "python"}
    for number, cell in enumerate(nb.cells, start=1):
        cell.execution_count = number if counts is None else counts[number - 1]
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="ok\n")]
    for index, output in (outputs or {}).items():
        nb.cells[index].outputs = [output]
    return nb


def test_hygiene_checks_catch_bad_notebooks():
    """Each check must be able to fail: feed it what it exists to catch."""
    good = _notebook("print('ok')", "print('ok')")
    assert not (problems_validity(good) or problems_kernelspec(good) or problems_execution(good)
                or problems_semicolons(good) or problems_markers(good) or problems_errors(good)
                or problems_counts(good)
                or problems_paths(good, sanitize))

    assert problems_kernelspec(_notebook("1", kernel="python2"))
    assert any("cell 1 ends with ';'" in p for p in problems_semicolons(_notebook("1", "plot(x);  # quiet")))
    assert not problems_semicolons(_notebook("s = 'a;'", "%%bash\necho 'unclosed"))
    assert problems_markers(_notebook("# NBVAL_IGNORE_OUTPUT  (timings)\nprint(1)"))
    assert not problems_markers(_notebook("# NBVAL_IGNORE_OUTPUT\n# (timings)\nprint(1)"))
    unrun = _notebook("print(1)", "print(2)", counts=[1, None])
    assert any("cell 1 was never run" in p for p in problems_execution(unrun))
    silent = _notebook("x = 1")
    silent.cells[0].outputs = []
    assert any("cell 0 has no stored output" in p for p in problems_execution(silent))
    error = nbformat.v4.new_output("error", ename="ConnectionRefusedError", evalue="[Errno 111]", traceback=[])
    assert any("ConnectionRefusedError" in p for p in problems_errors(_notebook("1", outputs={0: error})))
    assert any("expected 1" in p for p in problems_counts(_notebook("1", "2", counts=[2, 3])))
    assert any("expected 2" in p for p in problems_counts(_notebook("1", "2", counts=[1, 1])))

    def shows(text):
        out = nbformat.v4.new_output("execute_result", data={"text/plain": text}, execution_count=1)
        return problems_paths(_notebook("x", outputs={0: out}), sanitize)

    assert shows("'/home/alice/course/notebook.ipynb'")
    assert shows("/tmp/data.txt")
    assert shows(f"{REPO}/sockcourse/servers.py")
    assert not shows("'/tmp/sockcourse-k2j3h4g5/server.sock'")

    broken = _notebook("1")
    del broken.cells[0]["outputs"]
    assert problems_validity(broken)


# -- the sanitizer ------------------------------------------------------------

def load_rules() -> list[tuple[str, str]]:
    """The (regex, replacement) pairs, read by nbval's own parser."""
    return get_sanitize_patterns(SANITIZE_CFG.read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def _compiled_rules():
    # As nbval stores them: in a dict, so a repeated regex would count once.
    return [(re.compile(regex), replacement) for regex, replacement in OrderedDict(load_rules()).items()]


def sanitize(text: str) -> str:
    """What nbval does to each output string: every rule, in file order."""
    for regex, replacement in _compiled_rules():
        text = regex.sub(replacement, text)
    return text


#: (what a run printed, what nbval compares after sanitizing)
SAMPLES = [
    ("<Server echo tcp 127.0.0.1:41234 running, 0 connections>",
     "<Server echo tcp 127.0.0.1:PORT running, 0 connections>"),
    ("listening  [::1]:50001  -  LISTEN", "listening  [::1]:PORT  -  LISTEN"),
    ("('127.0.0.1', 36763)", "('127.0.0.1', PORT)"),
    ("('::1', 44098, 0, 0)", "('::1', PORT, 0, 0)"),
    ("[addr(ip='127.0.0.1', port=36763)]", "[addr(ip='127.0.0.1', port=PORT)]"),
    ("listening on port 36763", "listening on port PORT"),
    ("<socket.socket fd=66, family=2, type=1, proto=6, laddr=('127.0.0.1', 52652), raddr=('127.0.0.1', 36763)>",
     "<socket.socket fd=FD, family=2, type=1, proto=6, laddr=('127.0.0.1', PORT), raddr=('127.0.0.1', PORT)>"),
    ("/tmp/sockcourse-nyksg27r/server.sock", "<tmp>/sockcourse-XXXXXXXX/server.sock"),
    ("'/tmp/tmpa_9zq0wx'", "'<tmp>/tmpXXXXXXXX'"),
    ("/private/var/folders/zz/zyxvpxvq6csfxvn_n0000000000000/T/sockcourse-abcdefgh/s.sock",
     "<tmp>/sockcourse-XXXXXXXX/s.sock"),
    ("round trip took 0.549 ms", "round trip took <duration>"),
    ("took 1.2 s; then 45 µs, 45 us and 300 ns", "took <duration>; then <duration>, <duration> and <duration>"),
    ("(12ms)", "(<duration>)"),
    ("    0.309 ms       listen\n   11.367 ms    #1 accept",
     " <duration>       listen\n <duration>    #1 accept"),
    ("<function echo at 0x7f213c7d1ee0>", "<function echo at 0xADDRESS>"),
    ("/proc/self/fd/66 -> socket:[13753]", "/proc/self/fd/66 -> socket:[INODE]"),
    ("pipe:[998877]", "pipe:[INODE]"),
    ("2: 0100007F:8F9B 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 13753 1 "
     "00000000bc927d8d 100 0 0 10 0",
     "N: 0100007F:PORT 00000000:PORT 0A ..."),
    ("['468: 0100007F:8F9B 0100007F:CDAC 01 00000000:00000000 00:00000000 00000000  1000        0 14622 2 "
     "00000000ef69013d 20 4 31 11 -1', '13: 0100007F:CDAC 0100007F:8F9B 06 00000000:00000000 03:00001770 "
     "00000000     0        0 0 3 0000000000000000']",
     "['N: 0100007F:PORT 0100007F:PORT 01 ...', 'N: 0100007F:PORT 0100007F:PORT 06 ...']"),
    ("   1: 00000000000000000000000001000000:B0D1 00000000000000000000000000000000:0000 0A 00000000:00000000 "
     "00:00000000 00000000     0        0 55 1 0000000000000000 100 0 0 10 0",
     "N: 00000000000000000000000001000000:PORT 00000000000000000000000000000000:PORT 0A ..."),
]

#: Output the lessons print on purpose; no rule may touch it.
UNCHANGED = [
    "port=0 lets the kernel choose",
    "http is port 80, and 127.0.0.1:80 needs root",
    "3 sockets, 2 sessions, 10 messages",
    "the address 0x0100007F is 127.0.0.1 in the kernel's byte order",
    "state 0A is LISTEN",
    "recv     5 B b'hello'",
    "/tmp/data.txt",
    "version 3.11.7",
    "<Figure size 640x480 with 1 Axes>",
    "a 64 KiB buffer; TTL 64",
]


def test_sanitize_file_is_well_formed():
    text = SANITIZE_CFG.read_text(encoding="utf-8")
    assert text.isascii(), ("nbval reads tests/nbval_sanitize.cfg in the locale's encoding; write "
                            "non-ASCII characters in its rules as \\uXXXX escapes.")
    rules = load_rules()
    regex_lines = [line for line in text.splitlines() if line.startswith("regex:")]
    assert len(rules) == len(regex_lines), (
        "Some 'regex:' line of tests/nbval_sanitize.cfg is not directly followed by its 'replace:' "
        "line, so nbval silently ignores that rule; put each replace: on the next line.")
    regexes = [regex for regex, _ in rules]
    assert len(set(regexes)) == len(regexes), "tests/nbval_sanitize.cfg repeats a regex; nbval keeps only one."
    for line in text.splitlines():
        if line.startswith(("regex:", "replace:")):
            assert line == line.rstrip(), f"Trailing spaces would become part of the rule: {line!r}; remove them."
    for regex, _ in rules:
        re.compile(regex)


@pytest.mark.parametrize("before, after", SAMPLES, ids=[f"sample{i}" for i in range(len(SAMPLES))])
def test_sanitize_sample(before, after):
    assert sanitize(before) == after


@pytest.mark.parametrize("text", UNCHANGED)
def test_sanitize_leaves_lesson_output_alone(text):
    assert sanitize(text) == text


def test_every_rule_is_exercised_by_a_sample():
    for regex, _ in load_rules():
        assert any(re.search(regex, before) for before, _ in SAMPLES), (
            f"No sample in SAMPLES matches the rule {regex!r}; add a sample string that it is for.")


def test_replacements_show_no_machine_path():
    for _, replacement in load_rules():
        assert not any(marker in replacement for marker in machine_markers()), replacement


def _real_outputs() -> list[str]:
    """What a notebook prints about a real conversation, rendered as a cell would."""
    texts = []
    with sockcourse.serve(sockcourse.handlers.echo) as server:
        texts += [repr(server), str(server.address), f"listening on port {server.port}"]
        # Only the listener's line: a port can also appear in an old TIME_WAIT line.
        texts += [line for line in sockcourse.kernel.proc_net_tcp(server) if line.split()[3] == "0A"]
        with socket.create_connection(server.address, timeout=5) as client:
            texts.append(repr(client))
            started = time.perf_counter()
            client.sendall(b"hello")
            client.recv(1024)
            texts.append(f"took {(time.perf_counter() - started) * 1000:.3f} ms")
            connection = next(c for c in psutil.Process().net_connections("tcp") if c.fd == client.fileno())
            texts.append(repr(connection.laddr))
    with sockcourse.serve(sockcourse.handlers.echo, transport="unix") as unix_server:
        texts.append(unix_server.path)
    texts.append(repr(sockcourse.handlers.echo))
    return texts


def test_sanitized_real_outputs_repeat_exactly():
    """Two real runs print different text, which the rules make equal."""
    first, second = _real_outputs(), _real_outputs()
    assert first != second, "the two runs printed the same; this test would check nothing"
    assert [sanitize(t) for t in first] == [sanitize(t) for t in second]


# -- "Run All" twice in one kernel ----------------------------------------------

#: Runs in the notebook's kernel: what might leak, as one JSON line on stdout.
PROBE = r'''
def _sockcourse_probe():
    import json, os, socket, sys, threading

    def describe(fd):
        # A duplicate of the descriptor, so that closing it leaves the original alone.
        try:
            with socket.socket(fileno=os.dup(fd)) as s:
                try:
                    peer = s.getpeername()
                except OSError:
                    peer = "-"
                return f"{s.family.name} {s.type.name} local={s.getsockname() or '-'} remote={peer or '-'}"
        except OSError as exc:
            return f"(cannot look at it: {exc})"

    sockets = {}
    if os.path.isdir("/proc/self/fd"):
        for fd in os.listdir("/proc/self/fd"):
            try:
                target = os.readlink(f"/proc/self/fd/{fd}")
            except OSError:
                continue  # the descriptor listdir itself used, closed by now
            if target.startswith("socket:["):
                sockets[target] = [int(fd), describe(int(fd))]
    else:
        import psutil
        for c in psutil.Process().net_connections(kind="all"):
            sockets[f"{c.family.name} {c.type.name} {c.laddr} {c.raddr} fd {c.fd}"] = [c.fd, describe(c.fd)]
    registry = sys.modules.get("sockcourse.core.lifecycle")
    print("SOCKCOURSE-PROBE " + json.dumps({
        "pid": os.getpid(),
        "threads": [[t.ident, t.name, type(t).__module__] for t in threading.enumerate()],
        "sockets": sockets,
        "running": [repr(thing) for thing in registry.running()] if registry else [],
    }))
_sockcourse_probe()
del _sockcourse_probe
'''


def probe(client) -> dict:
    # The probe is the extra last cell of the client's copy of the notebook:
    # nbclient stores each executed cell back at its index.
    index = len(client.nb.cells) - 1
    cell = client.nb.cells[index]
    client.execute_cell(cell, index, store_history=False)
    for output in cell.outputs:
        for line in output.get("text", "").splitlines():
            if line.startswith("SOCKCOURSE-PROBE "):
                return json.loads(line.split(" ", 1)[1])
    raise AssertionError(f"The kernel's probe printed no report; its outputs were {cell.outputs!r}.")


#: Modules whose own thread classes the kernel starts when it first needs them:
#: zmq's GarbageCollectorThread appears the first time a big output (a figure)
#: is sent without copying. A notebook's threads are plain threading.Threads.
KERNEL_THREAD_MODULES = ("zmq.", "ipykernel.")


def leftovers(baseline: dict, now: dict) -> dict:
    old_threads = {(ident, name) for ident, name, _ in baseline["threads"]}
    return {
        "threads": [name for ident, name, module in now["threads"]
                    if (ident, name) not in old_threads and not module.startswith(KERNEL_THREAD_MODULES)],
        "sockets": {key: seen for key, seen in now["sockets"].items() if key not in baseline["sockets"]},
        "running": now["running"],
    }


def skipped_by_nbval(cell) -> bool:
    markers = chain(find_comment_markers(cell.source), find_metadata_tags(cell.metadata))
    return any(kind == "skip" and on for kind, on in markers)


def describe_sockets(pid: int, sockets: dict) -> list[str]:
    """Each leaked socket as psutil sees it in the kernel process, to find its owner.

    psutil lists only sockets the kernel's tables show (not one that is just
    bound, say); for those, the probe's own look at the descriptor stands in.
    """
    try:
        by_fd = {c.fd: c for c in psutil.Process(pid).net_connections(kind="all")}
    except (psutil.Error, OSError):
        by_fd = {}
    lines = []
    for key, (fd, seen_by_probe) in sorted(sockets.items(), key=lambda item: item[1][0]):
        c = by_fd.get(fd)
        if c is None:
            lines.append(f"fd {fd}: {seen_by_probe} ({key})")
        else:
            lines.append(f"fd {fd}: {c.family.name} {c.type.name} local={c.laddr or '-'} "
                         f"remote={c.raddr or '-'} {c.status}".rstrip())
    return lines


def run_cells(client, cells, run: int, name: str) -> str | None:
    """Execute the cells once; return why one failed, or None."""
    for index, cell in enumerate(cells):
        if cell.cell_type != "code" or skipped_by_nbval(cell):
            continue
        try:
            client.execute_cell(cell, index)
        except CellExecutionError as exc:
            return (f"{name}: cell {index} raised {exc.ename}: {exc.evalue} in run {run} of 2 "
                    f"(Run All twice without restarting the kernel).\n{runner.kernel_traceback(exc)}")
        except CellTimeoutError:
            return (f"{name}: cell {index} did not finish within {runner.CELL_TIMEOUT} s in run {run} of 2; "
                    f"look for a wait without a timeout.")
        except DeadKernelError:
            return f"{name}: the kernel died in cell {index}, run {run} of 2."
    return None


def run_twice(nb, directory: Path, name: str, settle: float = SETTLE_SECONDS) -> dict:
    """Run every cell twice in one kernel; return what was left over afterwards.

    A cell that fails in either run fails the test with its notebook and index.
    """
    nb = copy.deepcopy(nb)
    cells = list(nb.cells)
    nb.cells.append(new_code_cell(PROBE))
    client = runner.make_client(nb, directory)
    with client.setup_kernel():
        probe(client)  # the first cell a kernel runs starts some of its own machinery
        baseline = probe(client)
        failure = run_cells(client, cells, 1, name) or run_cells(client, cells, 2, name)
        if failure is None:
            deadline = time.monotonic() + settle
            while True:
                now = probe(client)
                left = leftovers(baseline, now)
                if not any(left.values()) or time.monotonic() >= deadline:
                    break
                time.sleep(0.1)
            left["socket_details"] = describe_sockets(now["pid"], left["sockets"])
    # Failing here, outside the `except`, keeps nbclient's long coloured error
    # out of the report, and the kernel is shut down by now.
    if failure is not None:
        pytest.fail(failure, pytrace=False)
    return left


def leak_report(name: str, left: dict) -> str:
    lines = [f"{name} left things behind after Run All twice in one kernel:"]
    if left["threads"]:
        lines.append("  threads still running: " + ", ".join(left["threads"]))
    if left["socket_details"]:
        lines.append("  sockets still open:")
        lines += [f"    {line}" for line in left["socket_details"]]
    if left["running"]:
        lines.append("  sockcourse.running(): " + ", ".join(left["running"]))
    lines.append("  Close what each cell opens (a `with` block, or .close()/.stop() in a later cell), "
                 "or call sockcourse.stop_all() in the notebook's last cell.")
    return "\n".join(lines)


@notebook_param
@pytest.mark.timeout(600)
def test_run_all_twice_leaves_nothing_behind(path):
    name = nb_name(path)
    left = run_twice(nbformat.read(path, as_version=4), path.parent, name)
    if any(left[key] for key in ("threads", "sockets", "running")):
        pytest.fail(leak_report(name, left), pytrace=False)


def test_run_twice_catches_leaks_and_second_run_errors(tmp_path):
    """The twice test must be able to fail: a leaky notebook, and one that breaks on re-run."""
    leaky = new_notebook(cells=[
        new_code_cell("import socket, sockcourse\nforgotten = sockcourse.serve(sockcourse.handlers.echo)"),
        new_code_cell("lonely = socket.socket()\nlonely.bind(('127.0.0.1', 0))"),
    ])
    left = run_twice(leaky, tmp_path, "leaky.ipynb", settle=0.5)  # these leaks never go away
    assert any(name.startswith("sockcourse-echo") for name in left["threads"]), left
    assert len(left["sockets"]) >= 3, left  # the listener, its wake-up pair, and `lonely`
    assert any("Server echo" in thing for thing in left["running"]), left
    assert "sockcourse-echo" in leak_report("leaky.ipynb", left)

    once_only = new_notebook(cells=[
        new_code_cell("assert 'seen' not in globals(), 'this cell ran before in this kernel'\nseen = True"),
    ])
    with pytest.raises(pytest.fail.Exception, match=r"cell 0 raised AssertionError.*run 2 of 2"):
        run_twice(once_only, tmp_path, "once_only.ipynb")


# -- the runner (tools/run_notebooks.py) ----------------------------------------

def test_runner_executes_in_order_and_strips_timings(tmp_path):
    nb = new_notebook(cells=[new_code_cell("import os\nprint(os.path.basename(os.getcwd()))"),
                             new_code_cell(""), new_code_cell("21 * 2")])
    nb.cells[0].metadata["execution"] = {"iopub.status.busy": "2024-01-01T00:00:00.000000Z"}
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", name="stdout", text="stale\n")]
    nb.cells[2].execution_count = 7
    (tmp_path / "here").mkdir()
    path = tmp_path / "here" / "try.ipynb"
    nbformat.write(nb, path)

    assert runner.main([str(path)]) == 0
    ran = nbformat.read(path, as_version=4)
    assert ran.metadata.kernelspec.name == "python3" and "language_info" in ran.metadata
    assert ran.cells[0].outputs[0].text == "here\n", "the kernel's working folder is the notebook's"
    assert [c.execution_count for c in ran.cells] == [1, None, 2]
    assert ran.cells[1].outputs == [], "an old output of a cell the run skips must go"
    assert ran.cells[2].outputs[0].data["text/plain"] == "42"
    assert all("execution" not in c.metadata for c in ran.cells)


def test_runner_stops_at_an_error_and_keeps_the_file(tmp_path, capsys):
    path = tmp_path / "broken.ipynb"
    nbformat.write(new_notebook(cells=[new_code_cell("print('fine')"), new_code_cell("1 / 0")]), path)
    before = path.read_bytes()
    assert runner.main([str(path)]) == 1
    message = capsys.readouterr().err
    assert "broken.ipynb: cell 1 raised ZeroDivisionError" in message and "not saved" in message
    assert path.read_bytes() == before
    assert runner.main([str(tmp_path / "missing.ipynb")]) == 1
    assert "There is no notebook at" in capsys.readouterr().err
