"""The three checked exercises of chapter 00 (notebooks/00_history.ipynb), run against right and wrong answers.

The checks live in the notebook itself, so these tests take their cells from
the notebook file and run them in a fresh namespace, the way a learner's
kernel would: first the chapter's imports, then the answer, then the check.
Each check must say "right" for a correct answer, "not answered yet" for the
stubs the notebook ships, and name the problem with a hint for a wrong one.
"""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "00_history.ipynb"

pytestmark = pytest.mark.timeout(60)


def cell_with(marker: str) -> str:
    """The source of the one code cell of the chapter that contains `marker`."""
    nb = nbformat.read(NOTEBOOK, as_version=4)
    found = [c.source for c in nb.cells if c.cell_type == "code" and marker in c.source]
    assert len(found) == 1, f"expected one code cell with {marker!r} in {NOTEBOOK.name}, found {len(found)}"
    return found[0]


def run(capsys, *sources: str) -> str:
    """Run cells one after another in one namespace; return what the last one printed."""
    namespace: dict = {"__name__": "__main__"}
    exec(cell_with("import sockcourse"), namespace)  # the chapter's imports
    exec(cell_with("def run_check("), namespace)
    capsys.readouterr()
    for source in sources:
        capsys.readouterr()
        exec(source, namespace)
    return capsys.readouterr().out.strip()


# -- exercise 1: aen() and is_send_socket() -----------------------------------------------------
RIGHT_1 = """
def aen(name):
    return name & 0xFF

def is_send_socket(number):
    return number % 2 == 1
"""

WRONG_1 = {
    "the host instead of the AEN": RIGHT_1.replace("name & 0xFF", "name >> 32"),
    "16 bits instead of 8": RIGHT_1.replace("name & 0xFF", "name & 0xFFFF"),
    "even and odd swapped": RIGHT_1.replace("number % 2 == 1", "number % 2 == 0"),
    "an int, not a bool": RIGHT_1.replace("number % 2 == 1", "number % 2"),
    "only the first socket": RIGHT_1.replace("number % 2 == 1", "number == 1"),
    "a crash": RIGHT_1.replace("return name & 0xFF", "return name[0]"),
}


def test_exercise_1_stubs_say_not_answered_yet(capsys):
    out = run(capsys, cell_with("def aen("), cell_with("def check_exercise_1"))
    assert out.startswith("not answered yet")


def test_exercise_1_a_right_answer_is_right(capsys):
    out = run(capsys, RIGHT_1, cell_with("def check_exercise_1"))
    assert out.startswith("right"), out


@pytest.mark.parametrize("mistake", WRONG_1)
def test_exercise_1_each_wrong_answer_gets_a_hint(capsys, mistake):
    out = run(capsys, WRONG_1[mistake], cell_with("def check_exercise_1"))
    assert not out.startswith(("right", "not answered")), out
    assert "hint" in out and out.endswith("."), out


# -- exercise 2: tcp_ports() ----------------------------------------------------------------------
needs_services = pytest.mark.skipif(not os.path.exists("/etc/services"),
                                    reason="this system has no /etc/services for the check to read")

RIGHT_2 = """
def tcp_ports(names):
    ports = {}
    for name in names:
        try:
            ports[name] = socket.getservbyname(name, "tcp")
        except OSError:
            ports[name] = None
    return ports
"""

WRONG_2 = {
    "no OSError handling": """
def tcp_ports(names):
    return {name: socket.getservbyname(name, "tcp") for name in names}
""",
    "skips unknown names": RIGHT_2.replace("ports[name] = None", "pass"),
    "a list, not a dictionary": RIGHT_2.replace("return ports", "return list(ports.values())"),
    "ports as text": RIGHT_2.replace('socket.getservbyname(name, "tcp")', 'str(socket.getservbyname(name, "tcp"))'),
    "0 for unknown": RIGHT_2.replace("ports[name] = None", "ports[name] = 0"),
}


@needs_services
def test_exercise_2_stub_says_not_answered_yet(capsys):
    out = run(capsys, cell_with("def tcp_ports("), cell_with("def services_file"), cell_with("def check_exercise_2"))
    assert out.startswith("not answered yet")


@needs_services
def test_exercise_2_a_right_answer_is_right_and_echo_is_7(capsys):
    out = run(capsys, RIGHT_2, cell_with("def services_file"), cell_with("def check_exercise_2"))
    assert out.startswith("right") and "'echo': 7" in out, out


@needs_services
@pytest.mark.parametrize("mistake", WRONG_2)
def test_exercise_2_each_wrong_answer_gets_a_hint(capsys, mistake):
    out = run(capsys, WRONG_2[mistake], cell_with("def services_file"), cell_with("def check_exercise_2"))
    assert not out.startswith(("right", "not answered")), out
    assert "hint" in out and out.endswith("."), out
    if mistake in ("no OSError handling", "skips unknown names", "0 for unknown"):
        assert "OSError" in out, out


@needs_services
def test_exercise_2s_own_reading_of_the_services_file_agrees_with_getservbyname(capsys):
    namespace: dict = {}
    exec(cell_with("import sockcourse"), namespace)
    exec(cell_with("def services_file"), namespace)
    table = namespace["services_file"]()
    import socket
    for name in ("echo", "discard", "telnet"):
        assert table.get(name) == socket.getservbyname(name, "tcp")


# -- exercise 3: kind_of() ------------------------------------------------------------------------
needs_proc = pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="this exercise needs Linux's /proc")

RIGHT_3 = """
def kind_of(fd):
    target = os.readlink(f"/proc/self/fd/{fd}")
    if target.startswith("socket:"):
        return "socket"
    if target.startswith("pipe:"):
        return "pipe"
    return "file"
"""

WRONG_3 = {
    "always a socket": """
def kind_of(fd):
    return "socket"
""",
    "the raw link": """
def kind_of(fd):
    return os.readlink(f"/proc/self/fd/{fd}")
""",
    "pipes taken for files": RIGHT_3.replace('target.startswith("pipe:")', 'target.startswith("fifo:")'),
    "a crash": RIGHT_3.replace('f"/proc/self/fd/{fd}"', 'f"/proc/self/fd/{fd}/nothing"'),
}


def open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


@needs_proc
def test_exercise_3_stub_says_not_answered_yet(capsys):
    out = run(capsys, cell_with("def kind_of("), cell_with("def check_exercise_3"))
    assert out.startswith("not answered yet")


@needs_proc
def test_exercise_3_a_right_answer_is_right_and_nothing_stays_open(capsys):
    before = open_descriptors()
    out = run(capsys, RIGHT_3, cell_with("def check_exercise_3"))
    assert out.startswith("right"), out
    assert open_descriptors() == before


@needs_proc
@pytest.mark.parametrize("mistake", WRONG_3)
def test_exercise_3_each_wrong_answer_gets_a_hint(capsys, mistake):
    before = open_descriptors()
    out = run(capsys, WRONG_3[mistake], cell_with("def check_exercise_3"))
    assert not out.startswith(("right", "not answered")), out
    assert "hint" in out and out.endswith("."), out
    assert "/tmp/" not in out  # the hint shows the link without this machine's temporary folder
    assert open_descriptors() == before
