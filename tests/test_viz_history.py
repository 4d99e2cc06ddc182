"""Tests of chapter 00's pictures (sockcourse.viz.history): the timeline, the layer models, socket names as bits.

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
    assert len(rfcs) == 7  # RFCs 147, 433, 675, 793, 1122, 8446 and 9000
    for m in rfcs:
        number = m.title.split()[1]
        assert m.source == f"https://www.rfc-editor.org/rfc/rfc{number}", m


def test_the_milestones_the_chapter_tells_are_there_with_their_dates():
    by_title = {m.title: m for m in MILESTONES}
    assert by_title["RFC 147"].when == datetime.date(1971, 5, 7)
    assert "32-bit" in by_title["RFC 147"].detail
    assert by_title["RFC 433"].when == datetime.date(1972, 12, 22)
    assert by_title["flag day"].when == datetime.date(1983, 1, 1)
    assert by_title["4.2BSD"].precision == "year" and by_title["4.2BSD"].track == "api"
    assert by_title["POSIX.1"].when.year == 1988 and "no sockets" in by_title["POSIX.1"].detail
    assert by_title["AF_UNIX on Windows 10"].when == datetime.date(2017, 12, 19)
    assert {m.track for m in MILESTONES} == {"wire", "api"}
    assert all(m.source for m in MILESTONES)


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
    assert "1971" in ax.get_title() and "2021" in ax.get_title()


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
    assert "odd" in texts["gender-note"] and "sending" in texts["gender-note"]
    assert texts["brace:tcp:port"].endswith(f"= {server.port}")
    assert texts["brace:ncp:aen"].endswith("= 7")
    assert patch(ax, "gender-bit").get_x() == 39  # the lowest bit of the 40


def test_an_even_socket_number_is_drawn_as_receiving():
    ax = viz.socket_name_bits(host=255, socket_number=2 ** 32 - 2, address=("10.1.2.3", 65535))
    texts = {t.get_gid(): t.get_text() for t in ax.texts if t.get_gid()}
    assert "even" in texts["gender-note"] and "receiving" in texts["gender-note"]
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


def test_drawing_changes_no_global_matplotlib_state():
    before = dict(matplotlib.rcParams)
    fig, axes = plt.subplots(1, 3, figsize=(20, 8))
    viz.history_timeline(ax=axes[0])
    viz.layer_models(ax=axes[1])
    viz.socket_name_bits(ax=axes[2])
    assert plt.get_fignums() == [fig.number]
    assert dict(matplotlib.rcParams) == before
