"""Chapter 07's checks beyond the wrong answers: they clean up, and what they judge by is really there.

test_wrong.py proves that every condition can fail. Here: running each check
twice leaves no server, thread or descriptor behind; the stall q1 looks for
is real (the same rounds without TCP_NODELAY take many times longer, and
TCP_QUICKACK on the client does not shorten them); q2's "no TIME_WAIT" is
read from a table that does show the TIME_WAIT of a plain close; q3's hook
refuses a wildcard bind only on the port it watches and only while it
watches, before the system call; q4's full accept queue really keeps a
connect pending; and an answer that blocks in connect() is abandoned and
still leaves nothing behind.

About 10 s in all on a quiet machine, most of it the answers that wait past their budget.
"""

from __future__ import annotations

import errno
import select
import socket
import statistics
import struct
import threading
from pathlib import Path

import pytest

import sockcourse
from sockcourse.homework import ch07
from sockcourse.homework.core import Condition, Ctx

from . import leftovers
from .conftest import load

HERE = Path(__file__).parent


pytestmark = pytest.mark.usefixtures("frozen_heap")


@pytest.fixture(scope="module")
def solutions():
    return load(HERE / "solutions" / "ch07.py", "hw07")


@pytest.fixture
def ctx():
    """A condition's context of the check's own, for the tests that use its helpers directly."""
    context = Ctx(ch07.q1, Condition("test", "a test", None), seed=0, graded=False)
    yield context
    context.close()


def test_each_check_twice_leaves_nothing_behind(solutions):
    """Public once, graded twice: full marks, no notes, and nothing left: servers, threads, descriptors."""
    for question in ch07.QUESTIONS:  # warm up: lazy imports, the audit hook, the first sock_diag socket
        question.run(getattr(solutions, question.answer), only=question.conditions[0].id)
    threads, fds = set(threading.enumerate()), leftovers.descriptors()
    took = []
    for graded in (False, True, True):
        for question in ch07.QUESTIONS:
            result = question.run(getattr(solutions, question.answer), graded=graded)
            assert result.score == result.max and result.status == "passed", result.text()
            assert not result.notes, result.text()
            took.append(f"{question.id}{' graded' if graded else ''} {result.seconds:.1f} s")
    print("; ".join(took))  # the times, for a human who runs with -s; no assertion on them
    assert sockcourse.running() == []
    assert leftovers.settle(threads) == []
    assert leftovers.descriptors() == fds
    assert not ch07._watched and not ch07._loopback_only


def _median_round(ctx, option=None) -> float:
    peer, mine = ch07._tcp_pair(ctx)
    if option is not None:
        mine.setsockopt(socket.IPPROTO_TCP, option, 1)
    return statistics.median(ch07._rounds(peer, mine, count=6, head=8, body=100))


def test_the_stall_is_real_and_quickack_does_not_remove_it(ctx):
    """Without TCP_NODELAY a round waits for the delayed ACK: many times longer than with it, QUICKACK or not."""
    plain = _median_round(ctx)
    nodelay = _median_round(ctx, socket.TCP_NODELAY)
    assert plain >= ch07.STALL_LINE_MS > nodelay, (plain, nodelay)
    assert plain > 10 * nodelay, (plain, nodelay)
    if hasattr(socket, "TCP_QUICKACK"):
        quickack = _median_round(ctx, socket.TCP_QUICKACK)
        assert quickack >= ch07.STALL_LINE_MS, quickack


def test_the_table_q2_reads_does_show_a_plain_close_s_time_wait(ctx):
    """The "no TIME_WAIT" of q2 means something: the same rows show one after a FIN."""
    peer, mine = ch07._tcp_pair(ctx)
    ends = (mine.getsockname(), mine.getpeername())
    mine.close()
    assert peer.recv(1) == b""
    peer.close()
    assert "TIME_WAIT" in [row.state for row in ch07._rows_of(ends, until="TIME_WAIT", timeout=2.0)]
    peer, mine = ch07._tcp_pair(ctx)
    ends = (mine.getsockname(), mine.getpeername())
    mine.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    mine.close()
    with pytest.raises(ConnectionResetError):
        peer.recv(1)
    peer.close()
    assert ch07._rows_of(ends, until="TIME_WAIT", timeout=0.3) == []


def test_the_hook_refuses_a_wildcard_bind_only_on_the_watched_port_and_only_while_watching(ctx):
    port = ch07._time_wait_port(ctx)
    with ch07._watching(ctx, port, loopback_only=True) as notes:
        for host in ("", "0.0.0.0"):
            with socket.socket() as sock, pytest.raises(PermissionError, match=f"refused to bind port {port}"):
                sock.bind((host, port))
        other = socket.socket()
        other.bind(("127.0.0.1", 0))  # another port: not watched, not noted
    assert [(event, host) for event, host, _, _ in notes] == [("socket.bind", ""), ("socket.bind", "0.0.0.0")]
    assert all(sock.fileno() == -1 for _, _, sock, _ in notes)  # closed by their `with`, not held open
    other.close()
    assert not ch07._watched and not ch07._loopback_only
    # After the watch, the same port binds as usual on loopback (SO_REUSEADDR passes its TIME_WAIT).
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))


def test_the_watch_holds_a_forgotten_socket_so_it_is_found_open(ctx):
    listener = ctx.listener()
    address = listener.getsockname()[:2]
    with ch07._watching(ctx, address[1]) as notes:
        forgotten = socket.socket()
        forgotten.setblocking(False)
        forgotten.connect_ex(address)
        del forgotten  # the watch keeps it: a student's leak is found, not closed quietly by Python
    assert len(ch07._left_open(notes)) == 1
    assert notes[0][3] == 0.0  # non-blocking at connect time
    ctx.close()
    assert ch07._left_open(notes) == []


def test_the_full_accept_queue_keeps_a_connect_pending(ctx):
    address, confirmed = ch07._full_listener(ctx)
    assert confirmed
    with socket.socket() as sock:
        sock.setblocking(False)
        assert sock.connect_ex(address) == errno.EINPROGRESS
        _, writable, _ = select.select([], [sock], [], 0.3)
        assert writable == []
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0


def test_the_live_listener_keeps_its_port_from_the_solution_but_not_from_reuseport(solutions):
    result = ch07.q3.run(solutions.listen_again, only="live")
    assert result.status == "passed", result.text()
    wrong = load(HERE / "wrong" / "ch07_q3_reuseport.py", "hw07")
    result = ch07.q3.run(wrong.answer, only="live")
    assert result.failed_ids() == ["live"] and result.hint_ids() == ["ch07.q3.reuseport"], result.text()
    assert "took the port of a server that is still listening" in result.text()


def test_an_answer_that_blocks_in_connect_is_abandoned_and_leaves_nothing():
    """A blocking connect to a full queue waits past the budget; the check ends it and cleans up after it."""
    wrong = load(HERE / "wrong" / "ch07_q4_blocking.py", "hw07")
    threads, fds = set(threading.enumerate()), leftovers.descriptors()
    result = ch07.q4.run(wrong.answer, only="pending")
    assert result.failed_ids() == ["pending"] and result.hint_ids() == ["ch07.q4.non-blocking"], result.text()
    # The check closed the full listener: the abandoned connect's next SYN (about 1 s later) is refused.
    assert leftovers.settle(threads, timeout=5.0) == []
    assert leftovers.descriptors() == fds
    assert sockcourse.running() == []


def test_the_stubs_are_not_attempted():
    for question in ch07.QUESTIONS:
        stub = load(HERE / "wrong" / f"ch07_{question.id}_stub.py", "hw07")
        result = question.run(stub.answer)
        assert result.status == "not-attempted" and result.score == 0, result.text()
        assert "not attempted yet" in result.text()
