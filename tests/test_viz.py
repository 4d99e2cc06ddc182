"""Tests of the pictures (sockcourse.viz) and of the state machine they draw (sockcourse.tcpstates).

The traces come from real servers and real client sockets on loopback; the
tests then look at what was drawn (arrows, labels, box colours, line data),
not at pixels.
"""

from __future__ import annotations

import re
import socket
import struct
import subprocess
import sys
import threading
from collections import deque

import matplotlib
import matplotlib.pyplot as plt
import psutil
import pytest
from matplotlib.colors import to_rgba
from matplotlib.patches import FancyArrowPatch

from sockcourse.viz import style  # noqa: E402  (the shared look: palette, limits)
from sockcourse import handlers, kernel, serve, tcpstates, viz
from sockcourse.core.trace import Event, Trace
from conftest import wait_for

pytestmark = pytest.mark.timeout(60)

CLIENT_TIMEOUT = 5.0


# -- helpers: real conversations, and reading what was drawn ---------------------------
def echo_session(*messages: bytes) -> Trace:
    """One client talks to an echo server, half-closes, and reads to the end."""
    with serve(handlers.echo) as server:
        with socket.create_connection(server.address, timeout=CLIENT_TIMEOUT) as client:
            for message in messages:
                client.sendall(message)
                got = b""
                while len(got) < len(message):
                    part = client.recv(65536)
                    assert part, "the echo server closed too early"
                    got += part
                assert got == message
            client.shutdown(socket.SHUT_WR)
            assert client.recv(10) == b""  # the server's FIN, after its close()
    return server.trace


def arrows(ax):
    return [t for t in ax.texts if t.get_gid() == "sequence:arrow"]


def labels(ax) -> list[str]:
    return [t.get_text() for t in ax.texts if t.get_gid() == "sequence:label"]


def notes(ax) -> list[str]:
    return [t.get_text() for t in ax.texts if t.get_gid() == "sequence:note"]


def directions(ax) -> list[str]:
    """'>' for client -> server (the arrow ends on the server lane at x=1), '<' back."""
    return [">" if arrow.xy[0] > arrow.xyann[0] else "<" for arrow in arrows(ax)]


def box(ax, key):
    found = [p for p in ax.patches if p.get_gid() == f"state:{key}"]
    assert len(found) == 1, f"expected one box for {key}, found {len(found)}"
    return found[0]


def same_colour(a, b) -> bool:
    return to_rgba(a) == pytest.approx(to_rgba(b))


# -- sequence diagram ---------------------------------------------------------------------
def test_sequence_diagram_draws_handshake_data_and_both_fins():
    trace = echo_session(b"hello")
    fig, ax = plt.subplots()
    assert viz.sequence_diagram(trace, ax=ax) is ax
    assert plt.get_fignums() == [fig.number]  # drew on the given axes, made no figure

    shown = labels(ax)
    assert len(arrows(ax)) == len(shown) == 9  # 3 handshake + request + reply + 2 FINs, each with its ACK
    assert shown[:3] == ["SYN  (inferred)", "SYN+ACK  (inferred)", "ACK: handshake done  (seen at accept())"]
    assert "b'hello'" in shown[3] and "(5 B)" in shown[3]
    assert "b'hello'" in shown[4]
    assert shown[5].startswith("FIN") and "b''" in shown[5]
    assert shown[6] == shown[8] == "ACK of that FIN  (inferred)"
    assert shown[7].startswith("FIN") and "close()" in shown[7]
    assert directions(ax) == [">", "<", ">", ">", "<", ">", "<", "<", ">"]
    # What no call saw is dotted; what a call saw is dashed.
    styles = [a.arrow_patch.get_linestyle() for a in arrows(ax)]
    assert [s == ":" or s == (0, (1.0, 1.65)) for s in styles][:2] == [True, True]
    assert "not time" in ax.get_ylabel()
    # Every row but the inferred ones (which the server never sees as calls) carries its time.
    times = [t.get_text() for t in ax.texts if t.get_gid() == "sequence:time"]
    assert len(times) == 5 and all(text.endswith(" ms") for text in times)
    assert ax.get_title() and ax.get_ylabel()


def test_a_server_that_shuts_down_then_closes_sends_one_fin():
    def answer_then_shut(conn):
        data = conn.recv(1024)
        conn.sendall(data.upper())
        conn.shutdown(socket.SHUT_WR)  # FIN now; close() later adds none
        while conn.recv(1024):
            pass

    with serve(answer_then_shut) as server:
        with socket.create_connection(server.address, timeout=CLIENT_TIMEOUT) as client:
            client.sendall(b"ping")
            assert client.recv(1024) == b"PING"
            assert client.recv(1024) == b""
    kinds = [e.kind for e in server.trace]
    assert "shutdown" in kinds and "close" in kinds

    ax = viz.sequence_diagram(server.trace)
    server_fins = [text for text, way in zip(labels(ax), directions(ax)) if text.startswith("FIN") and way == "<"]
    assert server_fins == ["FIN  (shutdown(SHUT_WR))"]
    assert sum(text.startswith("FIN") for text in labels(ax)) == 2


def test_a_reset_from_the_client_is_drawn_as_rst_and_no_fin_follows():
    with serve(handlers.echo) as server:
        client = socket.create_connection(server.address, timeout=CLIENT_TIMEOUT)
        try:
            client.sendall(b"bye")
            assert client.recv(1024) == b"bye"
            # Linger on with a zero timeout: close() aborts with RST instead of FIN.
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        finally:
            client.close()
        wait_for(lambda: server.trace.of_kind("reset"), what="the server to see the RST")
    ax = viz.sequence_diagram(server.trace)
    shown = labels(ax)
    rst = [i for i, text in enumerate(shown) if text.startswith("RST")]
    assert len(rst) == 1 and directions(ax)[rst[0]] == ">"
    assert not any(text.startswith("FIN") for text in shown[rst[0]:])


def test_several_connections_are_numbered_and_conn_picks_one():
    with serve(handlers.upper) as server:
        for word in (b"one", b"two"):
            with socket.create_connection(server.address, timeout=CLIENT_TIMEOUT) as client:
                client.sendall(word)
                assert client.recv(1024) == word.upper()
                client.shutdown(socket.SHUT_WR)
                assert client.recv(10) == b""
    ax = viz.sequence_diagram(server.trace)
    shown = labels(ax)
    assert len(shown) == 18  # per connection: 3 handshake, request, reply, 2 FINs and their 2 ACKs
    assert sum(text.startswith("#1 ") for text in shown) == 9
    assert sum(text.startswith("#2 ") for text in shown) == 9

    ax = viz.sequence_diagram(server.trace, conn=2)
    shown = labels(ax)
    assert len(arrows(ax)) == 9 and not any(text.startswith("#") for text in shown)
    assert any("b'TWO'" in text for text in shown) and not any("ONE" in text for text in shown)
    assert "#2" in ax.get_title()

    with pytest.raises(ValueError, match=r"no connection 5 .*#1, #2"):
        viz.sequence_diagram(server.trace, conn=5)


def test_datagrams_are_drawn_without_handshake_or_fin():
    with serve(handlers.echo, transport="udp") as server:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
            client.settimeout(CLIENT_TIMEOUT)
            for message in (b"ping", b"pong"):
                client.sendto(message, server.address)
                assert client.recvfrom(1024)[0] == message
    ax = viz.sequence_diagram(server.trace)
    shown = labels(ax)
    assert len(arrows(ax)) == 4
    assert directions(ax) == [">", "<", ">", "<"]
    assert all(text.startswith("datagram") for text in shown)
    assert "b'pong'" in shown[2]
    assert not any(word in text for text in shown for word in ("SYN", "FIN"))


def test_without_the_handshake_accept_is_a_note():
    trace = echo_session(b"x")
    ax = viz.sequence_diagram(trace, show_handshake=False)
    assert len(arrows(ax)) == 6  # request, reply, two FINs and the ACK inferred for each
    assert not any("SYN" in text for text in labels(ax))
    assert any("accept" in text for text in notes(ax))


def test_an_idle_timeout_is_a_note_on_the_server_lane():
    with serve(handlers.echo, idle_timeout=0.2) as server:
        with socket.create_connection(server.address, timeout=CLIENT_TIMEOUT):
            wait_for(lambda: server.trace.of_kind("timeout"), what="the idle timeout")
    ax = viz.sequence_diagram(server.trace)
    assert any("timeout" in text for text in notes(ax))
    note = next(t for t in ax.texts if t.get_gid() == "sequence:note")
    assert note.get_position()[0] == 1.0  # on the server's lane


def test_a_long_conversation_gets_a_taller_figure_and_a_cut_when_too_long():
    short = viz.sequence_diagram(echo_session(b"a"))
    messages = [f"message {i}".encode() for i in range(18)]
    tall = viz.sequence_diagram(echo_session(*messages))
    assert len(labels(tall)) == 3 + 2 * 18 + 2 + 2  # the two FINs each with their inferred ACK
    assert tall.figure.get_figheight() > short.figure.get_figheight() + 5
    assert min(t.get_fontsize() for t in tall.texts if t.get_gid() == "sequence:label") >= 5.5

    very_long = echo_session(*[b"m"] * 70)  # 145 rows
    ax = viz.sequence_diagram(very_long)
    assert len(arrows(ax)) == style.MAX_ROWS
    assert any("more rows not drawn" in t.get_text() for t in ax.texts)


# -- bad input ----------------------------------------------------------------------------
@pytest.mark.parametrize("draw", [viz.sequence_diagram, viz.timeline])
def test_bad_traces_get_a_sentence(draw):
    with pytest.raises(TypeError, match=r"Expected a Trace .*'hello'.*server\.trace"):
        draw("hello")
    with pytest.raises(TypeError, match=r"holds 3 \(type int\)"):
        draw([Event(0.0, "recv"), 3])
    with pytest.raises(ValueError, match=r"trace is empty.*server\.trace"):
        draw(Trace())
    with pytest.raises(ValueError, match=r"trace is empty"):
        draw([])
    with serve(handlers.echo) as server:
        pass
    with pytest.raises(TypeError, match=r"pass server\.trace"):
        draw(server)
    with pytest.raises(ValueError, match=r"(no conversation|no connection and no datagram)"):
        draw(server.trace)  # only "listen" and "stop"
    assert plt.get_fignums() == []  # refused before a figure was made


# -- state diagram ----------------------------------------------------------------------------
def test_state_diagram_draws_every_state_and_transition():
    fig, ax = plt.subplots()
    assert viz.state_diagram(ax=ax) is ax
    boxes = [p for p in ax.patches if (p.get_gid() or "").startswith("state:")]
    assert len(boxes) == len(tcpstates.STATES) + 1  # CLOSED sits at the top and the bottom
    drawn = [p for p in ax.patches if isinstance(p, FancyArrowPatch)]
    assert len(drawn) == len(tcpstates.TRANSITIONS)
    texts = [t.get_text() for t in ax.texts]
    for name in tcpstates.RFC_SPELLING.values():
        assert name in texts
    label = {t.get_gid(): t.get_text() for t in ax.texts if (t.get_gid() or "").startswith("label:")}
    assert label["label:TIME_WAIT->CLOSED"] == "timeout = 2MSL\ndelete TCB"
    assert label["label:LISTEN->SYN_RECEIVED"] == "rcv SYN\nsnd SYN,ACK"
    assert all(same_colour(b.get_facecolor(), style.PLAIN_BOX) for b in boxes)
    assert ax.get_legend() is None
    assert "RFC 9293" in ax.get_title()


def test_highlight_colours_the_boxes_and_explains_them_in_a_legend():
    ax = viz.state_diagram({"client": "FIN_WAIT2", "server": "close-wait"}, title="half closed")
    assert same_colour(box(ax, "FIN_WAIT_2").get_facecolor(), viz.ROLE_COLOURS["client"])
    assert same_colour(box(ax, "CLOSE_WAIT").get_facecolor(), viz.ROLE_COLOURS["server"])
    assert same_colour(box(ax, "ESTABLISHED").get_facecolor(), style.PLAIN_BOX)
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["client: FIN-WAIT-2  (the kernel says FIN_WAIT2)", "server: CLOSE-WAIT"]
    assert {t.get_text() for t in ax.texts if (t.get_gid() or "").startswith("role:")} == {"client", "server"}
    assert ax.get_title() == "half closed"


def test_highlight_from_the_kernels_table_of_a_half_closed_connection():
    release = threading.Event()

    def read_then_wait(conn):
        while conn.recv(1024):
            pass
        release.wait(5)  # stay in CLOSE_WAIT until the test has looked

    with serve(read_then_wait) as server:
        client = socket.create_connection(server.address, timeout=CLIENT_TIMEOUT)
        try:
            # The client is named too: an old TIME_WAIT to an earlier server that had
            # the same port number would otherwise add a second "client" row.
            table = kernel.states(server, client, until="ESTABLISHED")
            ax = viz.state_diagram(table)
            estab = box(ax, "ESTABLISHED")
            stripes = [p for p in ax.patches if (p.get_gid() or "").startswith("stripe:ESTABLISHED")]
            # The server came down the left (passive open), the client down the right (active open).
            assert same_colour(estab.get_facecolor(), viz.ROLE_COLOURS["server"])
            assert len(stripes) == 1 and same_colour(stripes[0].get_facecolor(), viz.ROLE_COLOURS["client"])
            tags = {t.get_text(): t.get_position()[0] for t in ax.texts if (t.get_gid() or "").startswith("role:")}
            assert tags["server"] < tags["client"]
            assert same_colour(box(ax, "LISTEN").get_facecolor(), viz.ROLE_COLOURS["listening"])

            client.shutdown(socket.SHUT_WR)
            table = kernel.states(server, client, until=("FIN_WAIT2", "CLOSE_WAIT"))
            assert set(table.of_role("client")) == {"FIN_WAIT2"}, table
            ax = viz.state_diagram(table)
            assert same_colour(box(ax, "FIN_WAIT_2").get_facecolor(), viz.ROLE_COLOURS["client"])
            assert same_colour(box(ax, "CLOSE_WAIT").get_facecolor(), viz.ROLE_COLOURS["server"])
            assert same_colour(box(ax, "ESTABLISHED").get_facecolor(), style.PLAIN_BOX)
        finally:
            release.set()
            client.close()


def test_unknown_state_names_are_refused_with_the_valid_names():
    with pytest.raises(ValueError, match=r"'FIN_WAIT_3' is not a TCP state.*ESTABLISHED.*FIN_WAIT_1"):
        viz.state_diagram({"client": "FIN_WAIT_3"})
    with pytest.raises(ValueError, match=r"'client'.*None"):
        viz.state_diagram({"client": None})
    with pytest.raises(TypeError, match=r"highlight must be .* got 42"):
        viz.state_diagram(42)
    assert plt.get_fignums() == []


# -- timeline -------------------------------------------------------------------------------------
def test_timeline_counts_the_bytes_each_way_against_milliseconds():
    trace = echo_session(b"hello", b"world, again")
    fig, ax = plt.subplots()
    assert viz.timeline(trace, ax=ax) is ax
    lines = {line.get_gid(): line for line in ax.get_lines() if (line.get_gid() or "").startswith("timeline:1")}
    received, sent = lines["timeline:1:in"], lines["timeline:1:out"]
    assert received.get_ydata()[-1] == trace.bytes_in(1) == 17
    assert sent.get_ydata()[-1] == -trace.bytes_out(1) == -17
    zero = trace.of_kind("listen")[0].t
    data_times = [(e.t - zero) * 1000 for e in trace.of_kind("recv")]
    assert list(received.get_xdata()[1:-1]) == pytest.approx(data_times)
    fins = [line for line in ax.get_lines() if line.get_gid() == "timeline:fin"]
    assert len(fins) == 2  # the client's half-close and the server's close
    assert "(ms)" in ax.get_xlabel() and "bytes" in ax.get_ylabel()
    assert ax.get_title()


def test_drawing_changes_no_global_matplotlib_state():
    trace = echo_session(b"abc")
    before = dict(matplotlib.rcParams)
    fig, axes = plt.subplots(1, 3)
    viz.sequence_diagram(trace, ax=axes[0])
    viz.state_diagram({"client": "ESTABLISHED"}, ax=axes[1])
    viz.timeline(trace, ax=axes[2])
    assert plt.get_fignums() == [fig.number]
    assert dict(matplotlib.rcParams) == before


# -- the state machine as data --------------------------------------------------------------------------
def test_every_transition_joins_two_states_and_every_state_is_reachable():
    for t in tcpstates.TRANSITIONS:
        assert t.source in tcpstates.STATES and t.target in tcpstates.STATES, t
        assert t.label.startswith(t.event)
    assert len(tcpstates.STATES) == len(set(tcpstates.STATES)) == 11
    assert set(tcpstates.MEANING) == set(tcpstates.STATES)

    reached, todo = {"CLOSED"}, deque(["CLOSED"])
    while todo:
        for t in tcpstates.transitions_from(todo.popleft()):
            if t.target not in reached:
                reached.add(t.target)
                todo.append(t.target)
    assert reached == set(tcpstates.STATES)


def test_the_well_known_paths_are_legal_and_shortcuts_are_not():
    assert tcpstates.is_path("CLOSED", "LISTEN", "SYN_RECEIVED", "ESTABLISHED")
    assert tcpstates.is_path("CLOSED", "SYN_SENT", "ESTABLISHED")
    assert tcpstates.is_path("ESTABLISHED", "FIN_WAIT_1", "FIN_WAIT_2", "TIME_WAIT", "CLOSED")
    assert tcpstates.is_path("ESTABLISHED", "CLOSE_WAIT", "LAST_ACK", "CLOSED")
    assert tcpstates.is_path("FIN_WAIT_1", "CLOSING", "TIME_WAIT")
    assert tcpstates.is_path("FIN_WAIT1", "FIN_WAIT2", "TIME_WAIT", "CLOSE")  # kernel spellings
    assert not tcpstates.is_transition("LISTEN", "ESTABLISHED")
    assert not tcpstates.is_transition("CLOSED", "ESTABLISHED")
    assert not tcpstates.is_transition("CLOSE_WAIT", "TIME_WAIT")
    assert not tcpstates.is_transition("ESTABLISHED", "ESTABLISHED")
    assert not tcpstates.is_transition("ESTABLISHED", "CLOSED")
    assert tcpstates.is_transition("ESTABLISHED", "CLOSED", resets=True)
    assert not tcpstates.is_transition("LISTEN", "CLOSING", resets=True)


def test_every_kernel_state_name_maps_to_an_rfc_state():
    psutil_names = {getattr(psutil, n) for n in dir(psutil) if n.startswith("CONN_")}
    assert psutil_names <= set(tcpstates.KERNEL_NAMES)
    assert set(tcpstates.KERNEL_NAMES.values()) <= set(tcpstates.STATES)
    assert set(kernel.PROC_TCP_STATES.values()) <= set(tcpstates.KERNEL_NAMES)
    assert tcpstates.rfc_name("SYN_RECV") == "SYN_RECEIVED"
    assert tcpstates.rfc_name("fin-wait-1") == "FIN_WAIT_1"
    assert tcpstates.rfc_name("ESTAB") == "ESTABLISHED"
    with pytest.raises(ValueError, match=r"'TIME_WAITING' is not a TCP state.*did you mean 'TIME_WAIT'"):
        tcpstates.rfc_name("TIME_WAITING")
    with pytest.raises(TypeError, match=r"got 7 \(type int\)"):
        tcpstates.rfc_name(7)


def test_the_state_machine_needs_no_matplotlib():
    code = ("import sys, sockcourse, sockcourse.protocols.tcpstates; "
            "print('matplotlib' in sys.modules, type(sockcourse.viz).__name__)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "module"]


def test_the_diagram_reads_an_abort_from_the_field_not_from_the_words():
    def trace_with(**close):
        trace = Trace()
        trace.record("listen", peer="127.0.0.1:1")
        trace.record("accept", conn=1, peer="127.0.0.1:2")
        trace.record("close", conn=1, peer="127.0.0.1:2", **close)
        trace.record("reset", conn=2, peer="127.0.0.1:3", error=ConnectionResetError("gone"))
        return trace

    aborted = labels(viz.sequence_diagram(trace_with(abort=True)))
    assert any(label.startswith("RST") and "SO_LINGER" in label for label in aborted), aborted
    worded = labels(viz.sequence_diagram(trace_with(detail="RST (SO_LINGER 0)")))  # words, no flag
    assert any(label.startswith("FIN") for label in worded), worded
    assert "RST  (ConnectionResetError)" in worded, worded
    plt.close("all")


def test_the_state_diagram_prints_the_rfcs_notes_its_arrows_refer_to():
    ax = viz.state_diagram("ESTABLISHED")
    notes_text = [t.get_text() for t in ax.texts if t.get_gid() == "rfc-notes"]
    assert len(notes_text) == 1 and all(f"Note {n}:" in notes_text[0] for n in (1, 2, 3))
    referred = {int(m) for t in ax.texts for m in re.findall(r"\(note (\d)\)", t.get_text())}
    assert referred <= {1, 2, 3} and referred  # every "(note N)" on an arrow is printed below
    quiet = viz.state_diagram("ESTABLISHED", notes=False)
    assert not [t for t in quiet.texts if t.get_gid() == "rfc-notes"]
