"""Chapter 00's checks beyond the wrong answers: they clean up, read the services database right, skip politely.

test_wrong.py proves that every condition can fail. Here: running each check
twice (and under many seeds) gives the solutions every point and leaves no
thread, descriptor, server or child behind; the check's own reading of
/etc/services agrees with getservbyname() and follows services(5); without
/etc/services or /proc the questions skip with one sentence; an answer that
closes the check's descriptors, or takes their numbers for itself, cannot
make the check close what is not its own; an answer that waits on a
descriptor for ever is woken and abandoned; a report never shows this
machine's temporary folder.

About 5 s in all, most of it the one answer that waits for its budget.
"""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path

import pytest

import sockcourse
from sockcourse.homework import ch00

from . import leftovers
from .conftest import load

HERE = Path(__file__).parent

needs_services = pytest.mark.skipif(not os.path.exists(ch00.SERVICES),
                                    reason=f"this system has no {ch00.SERVICES} for the check to read")
needs_proc = pytest.mark.skipif(not os.path.isdir(ch00.PROC_FD), reason="q3 needs Linux's /proc/self/fd")


pytestmark = pytest.mark.usefixtures("frozen_heap")


@pytest.fixture(scope="module")
def solutions():
    return load(HERE / "solutions" / "ch00.py", "hw00")


def test_each_check_twice_leaves_nothing_behind(solutions):
    """Public once, graded twice: full marks, no notes, and nothing left: servers, threads, descriptors, children."""
    for question in ch00.QUESTIONS:  # warm up: the first condition of each, so lazy imports are done
        question.run(getattr(solutions, question.answer), only=question.conditions[0].id)
    threads, fds, kids = set(threading.enumerate()), leftovers.descriptors(), leftovers.children()
    took = []
    for graded in (False, True, True):
        for question in ch00.QUESTIONS:
            result = question.run(getattr(solutions, question.answer), graded=graded)
            assert result.status == "passed" and result.score == result.max > 0, result.text()
            assert not result.notes, result.text()
            took.append(f"{question.id}{' graded' if graded else ''} {result.seconds:.3f} s")
    print("; ".join(took))  # the times, for a human who runs with -s; no assertion on them
    assert sockcourse.running() == []
    assert leftovers.settle(threads) == []
    assert leftovers.descriptors() == fds
    assert leftovers.children() == kids


def test_the_solutions_earn_every_point_under_many_seeds(solutions):
    """The graded draws (random names, hosts, aliases, descriptors) never ask what the solution cannot answer."""
    for seed in range(2, 30):
        for question in ch00.QUESTIONS:
            result = question.run(getattr(solutions, question.answer), graded=True, seed=seed)
            assert result.score == result.max, f"seed {seed}:\n{result.text()}"


@needs_services
def test_the_checks_reading_of_the_services_database_agrees_with_getservbyname():
    db = ch00.services_file()
    assert {"echo", "discard", "smtp", "telnet"} <= set(db.tcp)
    for name, (port, _) in db.tcp.items():
        assert socket.getservbyname(name, "tcp") == port, name
    for name in db.udp_only:
        with pytest.raises(OSError):
            socket.getservbyname(name, "tcp")
    for alias, service in db.aliases.items():
        assert socket.getservbyname(alias, "tcp") == socket.getservbyname(service, "tcp"), alias


def test_the_reading_follows_services_5(tmp_path):
    """Comments, aliases, the first line winning, other protocols, and lines that are no entry."""
    path = tmp_path / "services"
    path.write_text("# a comment line\n"
                    "echo\t\t7/tcp\n"
                    "echo\t\t7/udp\n"
                    "smtp\t\t25/tcp\t\tmail\t# Simple Mail Transfer\n"
                    "tftp\t\t69/udp\n"
                    "echo\t\t4/ddp\t\t\t# AppleTalk Echo\n"
                    "twice\t\t1000/tcp\n"
                    "twice\t\t2000/tcp\n"
                    "broken\t\tnot-a-port/tcp\n"
                    "lonely\n"
                    "\n")
    db = ch00.services_file(str(path))
    assert {name: port for name, (port, _) in db.tcp.items()} == {"echo": 7, "smtp": 25, "mail": 25, "twice": 1000}
    assert db.tcp["mail"] == (25, 4)
    assert db.udp_only == ["tftp"]
    assert db.aliases == {"mail": "smtp"}
    assert db.says("tftp") == f"None: {ch00.SERVICES} lists 'tftp' only for UDP (line 5: 69/udp)"
    assert ch00.services_file(str(tmp_path / "missing")) is None


def test_without_a_services_file_q2_skips_in_one_sentence(solutions, monkeypatch, tmp_path):
    monkeypatch.setattr(ch00, "SERVICES", str(tmp_path / "services"))
    result = ch00.q2.run(solutions.tcp_ports, graded=True)
    assert [c.status for c in result.conditions] == ["skipped"] * len(ch00.q2.conditions), result.text()
    for condition in result.conditions:
        assert condition.message.endswith(".") and condition.message.count(". ") == 0, condition.message
        assert str(tmp_path / "services") in condition.message
    assert result.score == result.max == 0


def test_without_proc_q3_skips_in_one_sentence(solutions, monkeypatch, tmp_path):
    monkeypatch.setattr(ch00, "PROC_FD", str(tmp_path / "fd"))
    result = ch00.q3.run(solutions.kind_of, graded=True)
    assert [c.status for c in result.conditions] == ["skipped"] * len(ch00.q3.conditions), result.text()
    for condition in result.conditions:
        assert condition.message.endswith(".") and condition.message.count(". ") == 0, condition.message
        assert str(tmp_path / "fd") in condition.message


@needs_proc
def test_an_answer_that_closes_the_checks_descriptors_leaves_everything_else_alone():
    """A socket object made on each descriptor closes it; the check must then not close a number twice."""
    wrong = load(HERE / "wrong" / "ch00_q3_wraps_in_socket.py", "hw00")
    read_end, write_end = os.pipe()  # ours, opened before: it must still work afterwards
    try:
        fds = leftovers.descriptors()
        result = ch00.q3.run(wrong.answer, graded=True)
        assert result.failed_ids() == ["kept-open"], result.text()
        assert leftovers.descriptors() == fds
        os.write(write_end, b"!")
        assert os.read(read_end, 1) == b"!"
    finally:
        os.close(read_end)
        os.close(write_end)


@needs_proc
def test_a_number_the_answer_took_over_is_not_closed_by_the_check():
    """The answer closes the descriptor and opens a file of its own, which gets the same number: still open after."""
    kept = []

    def kind_of(fd):
        os.close(fd)
        new = os.open(os.devnull, os.O_RDONLY)  # the lowest free number: the one just closed
        kept.append((new, os.fstat(new).st_ino))
        return "file"

    try:
        result = ch00.q3.run(kind_of, only=["kept-open"])
        assert result.failed_ids() == ["kept-open"]
        assert result.hint_ids() == ["ch00.q3.keep-open"]
        assert kept
        for fd, inode in kept:
            assert os.fstat(fd).st_ino == inode  # the check closed none of them
    finally:
        for fd, _ in kept:
            os.close(fd)


@needs_proc
def test_an_answer_that_waits_on_a_descriptor_is_woken_and_leaves_nothing():
    """os.read() on the check's connected socket waits for ever; at the deadline the check shuts it down."""
    def kind_of(fd):
        os.read(fd, 1)
        return "socket"

    threads, fds = set(threading.enumerate()), leftovers.descriptors()
    result = ch00.q3.run(kind_of, only=["sockets"])
    assert result.failed_ids() == ["sockets"], result.text()
    assert "was still waiting" in result.conditions[0].message
    assert leftovers.settle(threads) == []
    assert leftovers.descriptors() == fds
    assert sockcourse.running() == []


@needs_proc
def test_a_report_names_the_link_without_this_machines_temporary_folder():
    wrong = load(HERE / "wrong" / "ch00_q3_contains_word.py", "hw00")
    report = ch00.q3.run(wrong.answer, graded=True, only=["named-like"]).text()
    assert "<temporary folder>/" in report and "sockcourse-hw-" not in report, report


def test_q1_without_is_send_socket_beside_aen_says_so():
    namespace: dict = {}
    exec("def aen(name):\n    return name & 0xFF\n", namespace)
    result = ch00.q1.run(namespace["aen"])
    assert result.failed_ids() == ["send", "receive"], result.text()
    assert set(result.hint_ids()) == {"ch00.q1.both-functions"}
    assert "no function is_send_socket" in result.text()
