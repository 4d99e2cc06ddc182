"""Tests of sockcourse.viz.syscalls: two real traces side by side.

The traces are made here for real: a small Python echo server traced by
strace in the background, and a traced Python client that talks to it. (The C
server's trace is drawn the same way; tests/test_strace.py traces that one.)
"""

from __future__ import annotations

import sys
import textwrap

import pytest

from sockcourse.core.errors import ArgumentError, ArgumentTypeError
from sockcourse.peers import strace
from sockcourse.viz import syscalls

pytestmark = pytest.mark.timeout(120)

SERVER = textwrap.dedent("""
    import socket
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    print("listening on %s:%d" % listener.getsockname(), flush=True)
    conn, _ = listener.accept()
    conn.settimeout(10)
    while data := conn.recv(4096):
        conn.sendall(data)
    conn.close()
""")

CLIENT = textwrap.dedent("""
    import socket, sys
    with socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5) as s:
        for word in (b"one", b"three"):
            s.sendall(word)
            s.recv(100)
        s.shutdown(socket.SHUT_WR)
        s.recv(100)
""")


@pytest.fixture(scope="module")
def traces():
    said = strace.unavailable()
    if said:
        pytest.skip(said)
    with strace.Traced([sys.executable, "-c", SERVER]) as server:
        host, port = server.listening()
        client = strace.run([sys.executable, "-c", CLIENT, host, str(port)])
    return server.syscall_trace(), client


def _artists(ax, gid: str) -> list:
    return [a for a in ax.get_children() if a.get_gid() == gid]


def test_both_columns_with_every_call_and_the_pairs(traces, tmp_path):
    server, client = traces
    ax = syscalls.side_by_side(server, client, titles=("Python server", "Python client"))
    figure = ax.figure
    figure.savefig(tmp_path / "side-by-side.png", dpi=100)
    assert (tmp_path / "side-by-side.png").stat().st_size > 10_000
    assert round(figure.get_figwidth() * 100) == 1400, "readable at 1400 px wide"
    left, right = server.socket_calls, client.socket_calls
    assert len(_artists(ax, "syscalls:call")) == len(left) + len(right)
    assert len(_artists(ax, "syscalls:pair")) == len(strace.pairs(left, right)) == 4
    labels = [t.get_text() for t in _artists(ax, "syscalls:label")]
    assert any(text.startswith("accept4(3) = 4") for text in labels), labels
    assert any(text.startswith("sendto(") and "b'three'" in text for text in labels)
    assert "+++ exited with 0 +++" in labels
    sizes = [t.get_fontsize() for t in figure.findobj(lambda a: hasattr(a, "get_fontsize") and hasattr(a, "get_text"))
             if t.get_text().strip()]
    assert min(sizes) >= 9
    title = ax.get_title(loc="left")
    assert "as traced by strace" in title and "matched by order and size" in title
    assert "ms" in ax.get_ylabel()


def test_rows_keep_the_true_order_of_the_calls(traces):
    server, client = traces
    ax = syscalls.side_by_side(server, client)
    marks = _artists(ax, "syscalls:call")
    calls = server.socket_calls + client.socket_calls
    rows = [mark.get_ydata()[0] for mark in marks]
    by_time = [row for _, row in sorted(zip((c.time for c in calls), rows))]
    assert by_time == sorted(by_time), "a later call is never drawn above an earlier one"
    columns = {0: [], 1: []}
    for mark in marks:
        columns[0 if mark.get_xdata()[0] < 0.5 else 1].append(mark.get_ydata()[0])
    for column in columns.values():
        assert all(b - a >= 1.0 for a, b in zip(column, column[1:])), "one line apart within a column"


def test_the_pictures_pairs_are_the_data_layers_pairs(traces):
    server, client = traces
    left, right = server.socket_calls, client.socket_calls
    assert syscalls._pairs(left, right) == strace.pairs(left, right)
    assert syscalls._pairs(right, left) == strace.pairs(right, left)


def test_it_draws_on_the_axes_it_is_given(traces):
    import matplotlib.pyplot as plt

    server, client = traces
    figure, given = plt.subplots(figsize=(14, 9))
    assert syscalls.side_by_side(server.calls, client.calls, ax=given) is given
    assert len(figure.axes) == 1


def test_bad_input_is_said_in_a_sentence(traces):
    server, client = traces
    with pytest.raises(ArgumentTypeError, match="two names"):
        syscalls.side_by_side(server, client, titles=("only one",))
    with pytest.raises(ArgumentTypeError, match="SyscallTrace or a list"):
        syscalls.side_by_side("server", client)
    with pytest.raises(ArgumentTypeError, match="not a Call record"):
        syscalls.side_by_side([{"name": "socket"}], client)
    with pytest.raises(ArgumentError, match="Neither side"):
        syscalls.side_by_side([], [])
