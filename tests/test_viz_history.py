"""Tests of chapter 00's pictures (sockcourse.viz.history): timeline, layer models, socket names, RFC 123's ICP.

The pictures are checked by what was drawn (labels, boxes, bit cells and
where they sit once the figure is rendered), with real sockets where a
picture shows one.
"""

from __future__ import annotations

import datetime
import ipaddress
import socket

import matplotlib
import matplotlib.pyplot as plt
import pytest
from matplotlib.colors import to_rgba
from matplotlib.transforms import Bbox

from sockcourse import handlers, serve, viz
from sockcourse.viz import history
from sockcourse.viz.history import MILESTONES, Milestone

pytestmark = pytest.mark.timeout(60)


def rendered_boxes(ax, gids):
    """Window extents (pixels) of the texts with these gids, after a real draw of the figure."""
    ax.figure.canvas.draw()
    renderer = ax.figure.canvas.get_renderer()
    by_gid = {t.get_gid(): t for t in ax.texts}
    return {gid: by_gid[gid].get_window_extent(renderer) for gid in gids}


def overlap(a, b) -> bool:
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


def label_box(boxes, i):
    """One milestone's label: its bold heading and the detail under it, as one box."""
    head, detail = boxes[f"milestone:{i}"], boxes[f"milestone-detail:{i}"]
    return Bbox.union([head, detail]) if detail.height > 0 else head


# -- the milestones as data ---------------------------------------------------------------------
def test_every_rfc_milestone_links_to_its_own_rfc():
    rfcs = [m for m in MILESTONES if m.title.startswith("RFC ")]
    assert {m.title for m in rfcs} == {f"RFC {n}" for n in (33, 147, 349, 433, 675, 793, 1122, 8446, 9000)}
    for m in rfcs:
        number = m.title.split()[1]
        assert m.source == f"https://www.rfc-editor.org/rfc/rfc{number}", m


def test_the_milestones_the_chapter_tells_are_there_with_their_dates():
    by_title = {m.title: m for m in MILESTONES}
    # The story starts with RFC 33, where a pair of sockets names a connection (its page 6).
    assert by_title["RFC 33"].when == datetime.date(1970, 2, 12) and "pair of sockets" in by_title["RFC 33"].detail
    assert by_title["RFC 147"].when == datetime.date(1971, 5, 7)
    assert "32-bit" in by_title["RFC 147"].detail and "restated" in by_title["RFC 147"].detail
    # RFC 349 proposed the first list of socket numbers; RFC 433 made it official.
    assert by_title["RFC 349"].when == datetime.date(1972, 5, 30) and "first list" in by_title["RFC 349"].detail
    assert by_title["RFC 433"].when == datetime.date(1972, 12, 22) and "first" not in by_title["RFC 433"].detail
    assert by_title["flag day"].when == datetime.date(1983, 1, 1)
    # 4.2BSD's official release is known to the month: August 1983.
    bsd = by_title["4.2BSD"]
    assert (bsd.when.year, bsd.when.month, bsd.precision, bsd.track) == (1983, 8, "month", "api")
    assert bsd.date_text == "Aug 1983"
    assert by_title["POSIX.1"].when.year == 1988 and "no sockets" in by_title["POSIX.1"].detail
    assert by_title["AF_UNIX on Windows 10"].when == datetime.date(2017, 12, 19)
    assert {m.track for m in MILESTONES} == {"wire", "api"}
    assert all(m.source for m in MILESTONES)
    assert min(MILESTONES, key=lambda m: m.x).title == "RFC 33"


def test_a_milestone_sits_in_the_middle_of_what_its_date_names():
    day = Milestone(datetime.date(1983, 1, 1), "day", "t", "", "wire", "s")
    month = Milestone(datetime.date(1974, 12, 1), "month", "t", "", "wire", "s")
    year = Milestone(datetime.date(1983, 1, 1), "year", "t", "", "api", "s")
    assert day.x == pytest.approx(1983 + 0.5 / 365)
    assert month.x == pytest.approx(1974 + (334 + 15.5) / 365)
    assert year.x == 1983.5
    assert (day.date_text, month.date_text, year.date_text) == ("1 Jan 1983", "Dec 1974", "1983")


@pytest.mark.parametrize("args, error, words", [
    ((datetime.date(1983, 1, 1), "week", "t", "", "wire", "s"), ValueError, "'week'"),
    ((datetime.date(1983, 1, 1), "day", "t", "", "kernel", "s"), ValueError, "'kernel'"),
    (("1983-01-01", "day", "t", "", "wire", "s"), TypeError, "'1983-01-01'"),
])
def test_a_bad_milestone_is_refused_with_a_sentence(args, error, words):
    with pytest.raises(error, match="expected|must be") as caught:
        Milestone(*args)
    assert words in str(caught.value) and str(caught.value).endswith(".")


# -- the timeline --------------------------------------------------------------------------------
def test_the_timeline_draws_every_milestone_once_and_no_label_covers_another():
    ax = viz.history_timeline()
    heads = [t for t in ax.texts if (t.get_gid() or "").startswith("milestone:")]
    assert len(heads) == len(MILESTONES)
    for i, m in enumerate(MILESTONES):
        head = next(t for t in heads if t.get_gid() == f"milestone:{i}")
        assert head.get_text() == f"{m.date_text} · {m.title}"

    gids = [f"milestone:{i}" for i in range(len(MILESTONES))] + [f"milestone-detail:{i}" for i in range(len(MILESTONES))]
    boxes = rendered_boxes(ax, gids)
    labels = [label_box(boxes, i) for i in range(len(MILESTONES))]
    figure_box = ax.figure.bbox
    for i, a in enumerate(labels):
        assert figure_box.x0 <= a.x0 and a.x1 <= figure_box.x1 and figure_box.y0 <= a.y0 and a.y1 <= figure_box.y1
        for j in range(i + 1, len(labels)):
            assert not overlap(a, labels[j]), f"{MILESTONES[i].title!r} covers {MILESTONES[j].title!r}"


def test_protocols_go_right_the_api_left_in_time_order_with_leaders_from_their_dates():
    ax = viz.history_timeline()
    boxes = rendered_boxes(ax, [f"milestone:{i}" for i in range(len(MILESTONES))])
    axis_x = ax.transAxes.transform((0.5, 0))[0]
    for track, right in (("wire", True), ("api", False)):
        chosen = sorted((i for i, m in enumerate(MILESTONES) if m.track == track), key=lambda i: MILESTONES[i].x)
        for i in chosen:
            assert (boxes[f"milestone:{i}"].x0 > axis_x) if right else (boxes[f"milestone:{i}"].x1 < axis_x)
        # Time runs down, so a later event's label is lower on the page (smaller y in pixels).
        tops = [boxes[f"milestone:{i}"].y1 for i in chosen]
        assert tops == sorted(tops, reverse=True)
    lines = {line.get_gid(): line for line in ax.get_lines()}
    for i, m in enumerate(MILESTONES):
        leader, dot = lines[f"leader:{i}"], lines[f"dot:{i}"]
        assert leader.get_xdata()[0] == 0.5 and leader.get_ydata()[0] == m.x
        assert dot.get_ydata()[0] == m.x
        open_dot = to_rgba(dot.get_markerfacecolor()) == to_rgba("white")
        assert open_dot == (m.precision == "year"), m
    assert ax.get_ylim()[0] > ax.get_ylim()[1], "the earliest year must be at the top"
    assert "1970" in ax.get_title() and "2021" in ax.get_title()


def test_a_crowded_year_still_gets_readable_separate_labels():
    crowd = [Milestone(datetime.date(1983, month, 1), "month", f"event {month}", "a detail line\nand another",
                       "wire", "s") for month in range(1, 13)]
    crowd.append(Milestone(datetime.date(2000, 1, 1), "year", "lonely", "", "api", "s"))
    fig, ax = plt.subplots(figsize=(8, 6))
    assert viz.history_timeline(crowd, ax=ax) is ax
    assert plt.get_fignums() == [fig.number]  # drew on the given axes, made no figure
    gids = [f"milestone:{i}" for i in range(13)] + [f"milestone-detail:{i}" for i in range(13)]
    boxes = rendered_boxes(ax, gids)
    labels = [label_box(boxes, i) for i in range(13)]
    for i in range(13):
        for j in range(i + 1, 13):
            assert not overlap(labels[i], labels[j]), (i, j)


def test_packing_keeps_order_moves_only_what_collides_and_stays_inside():
    # Three labels 20 points tall wished at 100, 105 and 300; two collide, the third is alone.
    anchors = history._pack([100, 105, 300], [10, 10, 10], [10, 10, 10], 0, 1000, 5)
    assert anchors[1] - anchors[0] == pytest.approx(25)
    assert (anchors[0] + anchors[1]) / 2 == pytest.approx(102.5)  # the pair is centred on its wishes
    assert anchors[2] == 300
    # Near an edge the column is pushed inside.
    assert history._pack([0, 2], [10, 10], [10, 10], 0, 1000, 5)[0] == pytest.approx(10)
    assert history._pack([1000], [10], [10], 0, 1000, 5) == [pytest.approx(990)]


@pytest.mark.parametrize("bad, error, words", [
    ([], ValueError, "empty"),
    ([("1983", "flag day")], TypeError, "('1983', 'flag day')"),
    (42, TypeError, "42"),
])
def test_bad_milestone_lists_get_a_sentence(bad, error, words):
    with pytest.raises(error) as caught:
        viz.history_timeline(bad)
    message = str(caught.value)
    assert words in message and message.endswith(".") and ("MILESTONES" in message or "Milestone" in message)


# -- the layer models ----------------------------------------------------------------------------
def patch(ax, gid):
    found = [p for p in ax.patches if p.get_gid() == gid]
    assert len(found) == 1, f"expected one patch {gid!r}, found {len(found)}"
    return found[0]


def test_layer_models_draw_seven_osi_layers_beside_rfc_1122s_four():
    ax = viz.layer_models()
    osi = [patch(ax, f"osi:{n}") for n in range(1, 8)]
    names = {t.get_gid(): t.get_text() for t in ax.texts if t.get_gid()}
    assert [names[f"osi-name:{n}"] for n in range(1, 8)] == [
        "Physical", "Data link", "Network", "Transport", "Session", "Presentation", "Application"]
    assert [names[f"internet-name:{n}"] for n in ("Link", "Internet", "Transport", "Application")] == [
        "Link", "Internet", "Transport", "Application"]
    # Each Internet layer spans the OSI layers it stands for.
    spans = {"Link": (1, 2), "Internet": (3, 3), "Transport": (4, 4), "Application": (5, 7)}
    for name, (low, high) in spans.items():
        box = patch(ax, f"internet:{name}")
        assert box.get_y() == pytest.approx(osi[low - 1].get_y())
        assert box.get_y() + box.get_height() == pytest.approx(osi[high - 1].get_y() + osi[high - 1].get_height())
    assert "TCP, UDP" in names["internet-examples:Transport"]
    assert "QUIC" not in names["internet-examples:Application"]  # QUIC is a transport (RFC 9000's title)


def test_quic_is_drawn_as_a_transport_whose_code_runs_above_the_socket_api():
    ax = viz.layer_models()
    api_y = next(line for line in ax.get_lines() if line.get_gid() == "socket-api").get_ydata()[0]
    quic, transport = patch(ax, "quic"), patch(ax, "internet:Transport")
    assert quic.get_y() > api_y  # in the program, over a UDP socket
    assert quic.get_facecolor() == transport.get_facecolor()  # the transport layer's colour
    label = next(t for t in ax.texts if t.get_gid() == "quic-label").get_text()
    assert "transport" in label and "UDP" in label and "RFC 9000" in label
    assert "SOCK_RAW" in next(t for t in ax.texts if t.get_gid() == "raw-note").get_text()


def test_the_socket_api_is_the_line_between_application_and_transport_and_between_program_and_kernel():
    ax = viz.layer_models()
    api = next(line for line in ax.get_lines() if line.get_gid() == "socket-api")
    y = api.get_ydata()[0]
    transport, application = patch(ax, "internet:Transport"), patch(ax, "internet:Application")
    assert transport.get_y() + transport.get_height() < y < application.get_y()
    osi4, osi5 = patch(ax, "osi:4"), patch(ax, "osi:5")
    assert osi4.get_y() + osi4.get_height() < y < osi5.get_y()
    user, kernel = patch(ax, "region:user"), patch(ax, "region:kernel")
    assert user.get_y() == pytest.approx(y) and kernel.get_y() + kernel.get_height() == pytest.approx(y)
    label = next(t for t in ax.texts if t.get_gid() == "socket-api-label").get_text()
    for call in ("socket()", "bind()", "listen()", "accept()", "connect()", "send()", "recv()", "close()"):
        assert call in label
    assert ax.get_title()


# -- socket names as bits -------------------------------------------------------------------------
def drawn_bits(ax, row) -> str:
    cells = sorted((t for t in ax.texts if (t.get_gid() or "").startswith(f"bitvalue:{row}:")),
                   key=lambda t: int(t.get_gid().rsplit(":", 1)[1]))
    return "".join(t.get_text() for t in cells)


def test_the_bits_of_a_real_tcp_endpoint_and_of_rfc_433s_echo_socket():
    with serve(handlers.echo) as server:
        with socket.create_connection(server.address, timeout=5) as client:
            endpoint = client.getpeername()
    ax = viz.socket_name_bits(host=1, socket_number=7, address=endpoint)

    old = drawn_bits(ax, "ncp")
    assert len(old) == 40
    assert int(old[:8], 2) == 1 and int(old[8:], 2) == 7  # 8 bits of host, 32 of socket number

    new = drawn_bits(ax, "tcp")
    assert len(new) == 48
    assert str(ipaddress.IPv4Address(int(new[:32], 2))) == endpoint[0] == "127.0.0.1"
    assert int(new[32:], 2) == endpoint[1] == server.port

    texts = {t.get_gid(): t.get_text() for t in ax.texts if t.get_gid()}
    assert "odd" in texts["direction-note:ncp"] and "send" in texts["direction-note:ncp"]
    assert texts["brace:tcp:port"].endswith(f"= {server.port}")
    assert texts["brace:ncp:aen"].endswith("= 7")
    assert patch(ax, "direction-bit:ncp").get_x() == 39  # the lowest bit of the 40


def test_rfc_33s_row_puts_the_host_between_the_user_number_and_the_aen():
    # RFC 33, Figure 3: user number (24 bits), HOST number (8), AEN (8); the AEN's low bit: 1 = send.
    ax = viz.socket_name_bits(host=0x2A, socket_number=0x010005_07, address=("127.0.0.1", 7))
    bits = drawn_bits(ax, "rfc33")
    assert len(bits) == 40
    assert int(bits[:24], 2) == 0x010005 and int(bits[24:32], 2) == 0x2A and int(bits[32:], 2) == 7
    assert drawn_bits(ax, "ncp") == format((0x2A << 32) | 0x01000507, "040b")  # the same bits, host first
    texts = {t.get_gid(): t.get_text() for t in ax.texts if t.get_gid()}
    assert texts["brace:rfc33:user"].endswith("= 65,541") and texts["brace:rfc33:host"].endswith("= 42")
    assert "send" in texts["direction-note:rfc33"] and "RFC 33" in texts["row-title:rfc33"]
    assert patch(ax, "direction-bit:rfc33").get_x() == 39


def test_an_even_socket_number_is_drawn_as_receiving():
    ax = viz.socket_name_bits(host=255, socket_number=2 ** 32 - 2, address=("10.1.2.3", 65535))
    texts = {t.get_gid(): t.get_text() for t in ax.texts if t.get_gid()}
    assert "even" in texts["direction-note:ncp"] and "receive" in texts["direction-note:ncp"]
    assert "receive" in texts["direction-note:rfc33"]
    assert drawn_bits(ax, "ncp") == "1" * 39 + "0"
    assert drawn_bits(ax, "tcp")[32:] == "1" * 16


@pytest.mark.parametrize("kwargs, error, words", [
    ({"host": 256}, ValueError, "256"),
    ({"socket_number": -1}, ValueError, "-1"),
    ({"socket_number": 2 ** 32}, ValueError, "4294967296"),
    ({"address": ("::1", 7)}, ValueError, "'::1'"),
    ({"address": ("127.0.0.1", 70000)}, ValueError, "70000"),
    ({"address": "127.0.0.1:7"}, TypeError, "'127.0.0.1:7'"),
    ({"host": True}, ValueError, "True"),
])
def test_bad_bits_input_gets_a_sentence_naming_the_value(kwargs, error, words):
    with pytest.raises(error) as caught:
        viz.socket_name_bits(**kwargs)
    message = str(caught.value)
    assert words in message and message.endswith(".") and ";" in message  # value, expectation; hint


# -- RFC 123's Initial Connection Protocol ----------------------------------------------------------
def test_the_icp_ladder_follows_rfc_123s_calls_with_the_numbers_filled_in():
    ax = history.initial_connection(L=1, U=6, S=88)
    texts = {t.get_gid(): t.get_text() for t in ax.texts if t.get_gid()}
    # Every call of RFC 123's two sequences is written beside the side that makes it.
    for row, (who, calls, _) in enumerate(history.ICP_STEPS):
        sides = ("user", "server") if who == "both" else (who,)
        assert [texts[f"call:{row}:{side}"] for side in sides] == calls.split(" | ")
    wires = [texts[f"wire:{row}"] for row, step in enumerate(history.ICP_STEPS) if step[2]]
    assert wires == ["asks to connect U = 6 with L = 1", "S = 88, sent over L → U",
                     "U+1 = 7 → S = 88: the user's data", "S+1 = 89 → U = 6: the server's data"]
    # Arrows point from the side that sends to the one that receives (user on the left at x=0).
    arrows = {a.get_gid(): a for a in ax.texts if (a.get_gid() or "").startswith("arrow:")}
    for row, (_, _, wire) in enumerate(history.ICP_STEPS):
        if wire:
            source, target, _ = wire
            arrow = arrows[f"arrow:{row}"]
            assert (arrow.xyann[0], arrow.xy[0]) == ({"user": 0.0, "server": 1.0}[source],
                                                     {"user": 0.0, "server": 1.0}[target])
    assert ax.get_ylim()[0] > ax.get_ylim()[1], "time must run down"


@pytest.mark.parametrize("kwargs, words", [
    ({"L": 2}, "odd"), ({"U": 7}, "even"), ({"S": 89}, "even"), ({"L": -1}, "-1"), ({"S": 2 ** 32}, "4294967296"),
])
def test_the_icp_ladder_refuses_numbers_rfc_123_does_not_allow(kwargs, words):
    with pytest.raises(ValueError) as caught:
        history.initial_connection(**kwargs)
    message = str(caught.value)
    assert words in message and message.endswith(".") and ";" in message


@pytest.mark.parametrize("draw", [
    lambda: viz.history_timeline(), lambda: viz.layer_models(), lambda: viz.socket_name_bits(),
    lambda: history.initial_connection(),
], ids=["timeline", "layers", "bits", "icp"])
def test_no_text_in_a_picture_is_smaller_than_9_points(draw):
    # At a 1400 px window the notebook shows these about 970 px wide: 9 pt is then at least 10 px.
    ax = draw()
    fig = ax.figure
    texts = [t for t in fig.findobj(matplotlib.text.Text) if t.get_text().strip()]
    assert texts
    smallest = min(texts, key=lambda t: t.get_fontsize())
    assert smallest.get_fontsize() >= 9, f"{smallest.get_text()!r} is {smallest.get_fontsize():.1f} pt"
    assert fig.get_figwidth() <= 11.2  # wider would shrink 9 pt below 9 px in a 970 px output area
    plt.close(fig)


def test_drawing_changes_no_global_matplotlib_state():
    before = dict(matplotlib.rcParams)
    fig, axes = plt.subplots(1, 4, figsize=(26, 8))
    viz.history_timeline(ax=axes[0])
    viz.layer_models(ax=axes[1])
    viz.socket_name_bits(ax=axes[2])
    assert history.initial_connection(ax=axes[3]) is axes[3]
    assert plt.get_fignums() == [fig.number]
    assert dict(matplotlib.rcParams) == before
