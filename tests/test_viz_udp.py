"""Tests of the chapter 02 pictures (sockcourse.viz.udp), drawn from real datagrams and streams.

The data come from real sockets on loopback, through the fault-injecting
link where faults are wanted, and from the real kernel's UDP socket lookup
(sockcourse.kernel.udplookup); the tests then read back what was drawn
(boxes, lines, markers, texts, arrows), not pixels.
"""

from __future__ import annotations

import math
import socket
import struct
import sys
import time

import matplotlib.pyplot as plt
import pytest
from matplotlib.colors import to_rgba

from sockcourse import viz
from sockcourse.core.errors import ArgumentError, ArgumentTypeError
from sockcourse.link import link
from sockcourse.viz import udp

pytestmark = pytest.mark.timeout(60)

SEQ = struct.Struct("!I")


# -- real data ---------------------------------------------------------------------------
def through_udp_link(count: int, seed: int, **faults) -> list[int]:
    """Send numbered datagrams through a UDP link; return the numbers in the order they arrived."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as receiver:
        receiver.bind(("127.0.0.1", 0))
        receiver.settimeout(0.3)
        with link(receiver.getsockname(), transport="udp", seed=seed, **faults) as net, \
                socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            for number in range(count):
                sender.sendto(SEQ.pack(number), net.address)
            arrived = []
            for _ in range(4 * count):
                try:
                    arrived.append(SEQ.unpack(receiver.recv(64))[0])
                except TimeoutError:
                    break
    return arrived


def timed_updates(count: int, gap: float, *, transport: str, seed: int, **faults) -> list[tuple]:
    """Send `count` timestamped updates through a link; return (number, sent, arrived) per arrival."""
    rows = []
    if transport == "udp":
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as receiver:
            receiver.bind(("127.0.0.1", 0))
            receiver.settimeout(0.3)
            with link(receiver.getsockname(), transport="udp", seed=seed, **faults) as net, \
                    socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
                for number in range(count):
                    sender.sendto(struct.pack("!Id", number, time.monotonic()), net.address)
                    time.sleep(gap)
                for _ in range(4 * count):
                    try:
                        data = receiver.recv(64)
                    except TimeoutError:
                        break
                    rows.append((*struct.unpack("!Id", data), time.monotonic()))
        return rows
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(5)
        with link(listener.getsockname(), transport="tcp", seed=seed, **faults) as net, \
                socket.create_connection(net.address, timeout=5) as sender:
            sender.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn, _ = listener.accept()
            with conn:
                conn.settimeout(5)
                for number in range(count):
                    sender.sendall(struct.pack("!Id", number, time.monotonic()))
                    time.sleep(gap)
                buffer = b""
                while len(rows) < count:
                    chunk = conn.recv(4096)
                    assert chunk, "the link closed the stream early"
                    now = time.monotonic()
                    buffer += chunk
                    while len(buffer) >= 12:
                        rows.append((*struct.unpack("!Id", buffer[:12]), now))
                        buffer = buffer[12:]
            retransmitted = net.count("retransmitted")
    assert retransmitted > 0, "the seeded link lost nothing, so this data shows no head-of-line blocking"
    return rows


# -- classify and datagram_fates -------------------------------------------------------------
def test_classify_names_each_arrival():
    result = udp.classify([0, 2, 1, 2, 4], 6)
    assert result["fates"] == ["in order", "in order", "late (overtaken)", "extra copy", "in order"]
    assert result["lost"] == [3, 5]


def test_fates_of_real_datagrams_are_drawn_one_line_each():
    arrived = through_udp_link(30, seed=23, loss=0.1, duplicate=0.1, reorder=0.15)
    sorted_out = udp.classify(arrived, 30)
    # The seed was chosen so that the run shows every fate; the test needs all of them.
    assert sorted_out["lost"] and {"late (overtaken)", "extra copy"} <= set(sorted_out["fates"]), arrived

    ax = viz.datagram_fates(arrived, 30)
    lines = [line for line in ax.lines if (line.get_gid() or "").startswith("fate:")]
    assert len(lines) == len(arrived)
    for fate in udp.FATES:
        drawn = [line for line in lines if line.get_gid() == f"fate:{fate}"]
        assert len(drawn) == sorted_out["fates"].count(fate)
        assert all(to_rgba(line.get_color()) == to_rgba(udp.FATES[fate][0]) for line in drawn)
    # Each line runs from the datagram's box in the sent row to its slot in the arrival row.
    for slot, (line, seq) in enumerate(zip(lines, arrived)):
        assert list(line.get_xdata()) == [seq, slot]
    sent_boxes = {p.get_gid(): p for p in ax.patches if (p.get_gid() or "").startswith("sent:")}
    assert len(sent_boxes) == 30
    red = [int(gid.split(":")[1]) for gid, p in sent_boxes.items() if p.get_facecolor() == to_rgba(udp.LOST)]
    assert red == sorted_out["lost"]
    assert sum((p.get_gid() or "").startswith("received:") for p in ax.patches) == len(arrived)
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert f"lost, never arrived ({len(sorted_out['lost'])})" in legend


def test_fates_of_a_clean_stream_are_all_in_order():
    arrived = through_udp_link(12, seed=1)  # no faults, and a dozen datagrams fit any receive buffer
    assert arrived == list(range(12))
    ax = viz.datagram_fates(arrived, 12, title="no faults")
    assert {line.get_gid() for line in ax.lines} == {"fate:in order"}
    assert ax.get_title() == "no faults"


@pytest.mark.parametrize("received, sent, kind, words", [
    ([0, 1], 0, ValueError, ["0", "sent=40"]),
    ([0, 5], 3, ValueError, ["0 to 2", "5"]),
    ("0123", 4, TypeError, ["'0123'", "received="]),
    ([0, 1.5], 3, ValueError, ["1.5"]),
    (list(range(10)), udp.MAX_FATES + 1, ValueError, [str(udp.MAX_FATES)]),
])
def test_fates_bad_input_gets_a_sentence(received, sent, kind, words):
    with pytest.raises(kind) as caught:
        viz.datagram_fates(received, sent)
    message = str(caught.value)
    assert message.endswith(".") and all(word in message for word in words), message


# -- update_delays ------------------------------------------------------------------------------
def test_update_delays_from_real_udp_and_tcp_runs():
    count = 12
    runs = {"UDP": timed_updates(count, 0.01, transport="udp", seed=3, loss=0.2, delay=0.01),
            "TCP": timed_updates(count, 0.01, transport="tcp", seed=5, loss=0.2, delay=0.01, rto=0.05)}
    ax = viz.update_delays(runs, count, rate=100, link_delay=0.01, title="real runs")

    udp_line = next(line for line in ax.lines if line.get_gid() == "delays:UDP")
    got = {seq for seq, _, _ in runs["UDP"]}
    ys = list(udp_line.get_ydata())
    assert len(ys) == count
    for seq in range(count):
        assert math.isnan(ys[seq]) == (seq not in got)
    first = {seq: 1000 * (t1 - t0) for seq, t0, t1 in reversed(runs["UDP"])}
    assert all(ys[seq] == pytest.approx(first[seq]) for seq in got)
    missing = sorted(set(range(count)) - got)
    lost = [line for line in ax.lines if line.get_gid() == "lost:UDP"]
    if missing:
        assert list(lost[0].get_xdata()) == missing
    else:
        assert not lost

    tcp_line = next(line for line in ax.lines if line.get_gid() == "delays:TCP")
    assert not any(math.isnan(y) for y in tcp_line.get_ydata()), "TCP delivers every update"
    # A retransmission (asserted in timed_updates) holds the updates behind it: they come in a burst.
    found = udp.bursts(runs["TCP"])
    assert found, runs["TCP"]
    assert sum(p.get_gid() == "burst:TCP" for p in ax.patches) == len(found)
    assert any("at once" in t.get_text() for t in ax.texts)
    assert max(tcp_line.get_ydata()) >= 50, "the retransmission timeout (50 ms) shows in the delays"
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert f"TCP: {count} of {count} arrived" in legend and "the link's delay (10 ms)" in legend
    assert ax.get_xlabel() == "update number (100 updates per second)"


def test_update_delays_marks_the_repair_the_link_played():
    count = 12
    rows = timed_updates(count, 0.01, transport="tcp", seed=5, loss=0.2, delay=0.01, rto=0.05)
    ax = viz.update_delays({"TCP": rows}, count, link_delay=0.01, repairs={"TCP": 0.05})
    line = next(line for line in ax.lines if line.get_gid() == "repair:TCP")
    assert list(line.get_ydata()) == [pytest.approx(60.0)] * 2, "drawn at the link's delay plus the wait"
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "TCP: lost piece re-sent after 50 ms (played by the link)" in legend
    # The line tells the truth about the data: a repaired update takes at least delay + wait.
    worst = max(1000 * (t1 - t0) for _, t0, t1 in rows)
    assert worst >= 60.0 * 0.98, worst
    assert ax.get_ylim()[1] > 60.0
    plain = viz.update_delays({"TCP": rows}, count, link_delay=0.01)
    assert not [line for line in plain.lines if (line.get_gid() or "").startswith("repair:")]


@pytest.mark.parametrize("repairs, link_delay, kind, words", [
    ({"UDP": 0.2}, 0.02, ValueError, ["'UDP'", "['TCP']"]),
    ({"TCP": -1}, 0.02, ValueError, ["'TCP'", "-1", "0.2"]),
    ({"TCP": 0.2}, None, ValueError, ["link_delay"]),
    ([0.2], 0.02, TypeError, ["[0.2]", "{'TCP': 0.2}"]),
])
def test_update_delays_bad_repairs_get_a_sentence(repairs, link_delay, kind, words):
    with pytest.raises(kind) as caught:
        viz.update_delays({"TCP": [(0, 0.0, 0.05)]}, 1, link_delay=link_delay, repairs=repairs)
    message = str(caught.value)
    assert message.endswith(".") and all(word in message for word in words), message


def test_bursts_finds_runs_that_arrived_together():
    rows = [(0, 0.0, 0.02), (1, 0.01, 0.30), (2, 0.02, 0.301), (3, 0.03, 0.302), (4, 0.04, 0.33)]
    assert udp.bursts(rows) == [(1, 3)]
    assert udp.bursts(rows, least=4) == []


@pytest.mark.parametrize("runs, count, kind, words", [
    ([], 5, TypeError, ["dict of runs"]),
    ({"UDP": [(0, 1.0)]}, 5, ValueError, ["'UDP'", "(0, 1.0)", "time.monotonic()"]),
    ({"UDP": [(0, 0.0, 0.1)]}, 0, ValueError, ["1 or more", "0", "count=60"]),
])
def test_update_delays_bad_input_gets_a_sentence(runs, count, kind, words):
    with pytest.raises(kind) as caught:
        viz.update_delays(runs, count)
    message = str(caught.value)
    assert message.endswith(".") and all(word in message for word in words), message


# -- datagram_layout --------------------------------------------------------------------------
def largest_payload(family, host: str) -> int:
    """The biggest datagram sendto() accepts on this machine, found by bisection."""
    with socket.socket(family, socket.SOCK_DGRAM) as receiver, socket.socket(family, socket.SOCK_DGRAM) as sender:
        receiver.bind((host, 0))
        low, high = 1, 70_000
        while high - low > 1:
            middle = (low + high) // 2
            try:
                sender.sendto(bytes(middle), receiver.getsockname())
                low = middle
            except OSError:
                high = middle
    return low


def test_layout_shows_the_measured_limit():
    measured = largest_payload(socket.AF_INET, "127.0.0.1")
    if sys.platform.startswith("linux"):
        assert measured == 65_507  # 65,535 - 20 - 8; macOS caps datagrams lower (net.inet.udp.maxdgram)
    ax = viz.datagram_layout({"IPv4": measured})
    texts = [t.get_text() for t in ax.texts]
    assert any("65,535 − 20 − 8 = 65,507 B" in t and f"largest sent here: {measured:,} B" in t for t in texts)
    assert {p.get_gid() for p in ax.patches} >= {"layout:IPv4:ip", "layout:IPv4:udp", "layout:IPv4:data"}
    assert any("Total Length" in t for t in texts)


def test_layout_of_ipv6_counts_no_ip_header():
    ax = viz.datagram_layout({"IPv4": 65_507, "IPv6": 65_527})
    texts = [t.get_text() for t in ax.texts]
    assert any("65,535 − 8 = 65,527 B" in t for t in texts)
    assert any("Payload Length" in t for t in texts)


@pytest.mark.parametrize("largest, kind, words", [
    ({}, TypeError, ["IPv4", "65507"]),
    ({"IPv5": 3}, ValueError, ["'IPv5'", "'IPv4'"]),
    ({"IPv4": -1}, ValueError, ["-1"]),
])
def test_layout_bad_input_gets_a_sentence(largest, kind, words):
    with pytest.raises(kind) as caught:
        viz.datagram_layout(largest)
    message = str(caught.value)
    assert message.endswith(".") and all(word in message for word in words), message


def test_functions_draw_on_the_axes_they_are_given():
    fig, axes = plt.subplots(1, 3)
    assert viz.datagram_fates([0, 1], 2, ax=axes[0]) is axes[0]
    assert viz.update_delays({"UDP": [(0, 0.0, 0.01)]}, 1, ax=axes[1]) is axes[1]
    assert viz.datagram_layout({"IPv4": 65_507}, ax=axes[2]) is axes[2]
    assert len(fig.axes) == 3


# -- udp_lookup -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def lookup():
    """A real run of chapter 02's lookup experiment (Linux: the port is shared as Linux shares it)."""
    if not sys.platform.startswith("linux"):
        pytest.skip("the UDP lookup experiment follows Linux's rules")
    from sockcourse.kernel import udplookup
    return udplookup.run()


def _by_gid(ax, prefix):
    found = {}
    for artist in [*ax.texts, *ax.lines, *ax.patches]:
        gid = artist.get_gid() or ""
        if gid.startswith(prefix):
            found[gid[len(prefix):]] = artist
    return found


def test_lookup_draws_each_datagram_to_the_socket_that_got_it(lookup, tmp_path):
    ax = viz.udp_lookup(lookup)
    try:
        ax.figure.savefig(tmp_path / "lookup.png")
        arrows = _by_gid(ax, "lookup:datagram:")
        assert sorted(map(int, arrows)) == [d.number for d in lookup.datagrams]
        lanes = {t.get_gid().split(":")[-1]: t.get_position()[0] for t in ax.texts
                 if (t.get_gid() or "").startswith(("lookup:sender:", "lookup:receiver:"))}
        for d in lookup.datagrams:
            arrow = arrows[str(d.number)]
            assert arrow.xyann[0] == lanes[d.sender], "the arrow starts at its sender"
            assert arrow.xy[0] == lanes[d.received_by or "dropped"], "and ends where the datagram went"
        dropped = {int(n) for n in _by_gid(ax, "lookup:dropped:")}
        assert dropped == {d.number for d in lookup.datagrams if d.received_by is None} == {4, 5}
        assert "port {}".format(lookup.port) in _by_gid(ax, "lookup:port")[""].get_text()
        assert "from the connected socket's peer:\nthe connected socket wins" == _by_gid(ax, "lookup:reason:")["1"].get_text()
        assert "close()" in [t.get_text() for t in _by_gid(ax, "lookup:closed:").values()]
    finally:
        plt.close(ax.figure)


def test_lookup_sends_the_icmp_error_back_to_the_sender(lookup):
    ax = viz.udp_lookup(lookup.as_dict())
    try:
        icmp = _by_gid(ax, "lookup:icmp:")
        assert set(icmp) == {"4", "5"}, "an ICMP error for each dropped datagram, none for the others"
        sender_x = {d.number: _by_gid(ax, "lookup:sender:")[d.sender].get_position()[0] for d in lookup.datagrams}
        for number, arrow in icmp.items():
            assert arrow.xy[0] == sender_x[int(number)], "the ICMP arrow ends at the sender"
        assert set(_by_gid(ax, "lookup:reported:")) == {"4"}      # stranger 1 is connected
        assert set(_by_gid(ax, "lookup:unreported:")) == {"5"}    # stranger 2 is not
        saw = {n: t.get_text() for n, t in _by_gid(ax, "lookup:saw:").items()}
        assert saw == {"4": "recv(): ECONNREFUSED", "5": "not reported"}
        legend = [t.get_text() for t in ax.get_legend().get_texts()]
        assert "ICMP port unreachable, back to the sender" in legend
        assert ax.get_title().startswith("Which UDP socket gets each datagram")
    finally:
        plt.close(ax.figure)


def test_lookup_with_ip_recverr_shows_both_errors_reported():
    if not sys.platform.startswith("linux"):
        pytest.skip("the UDP lookup experiment follows Linux's rules")
    from sockcourse.kernel import udplookup
    ax = viz.udp_lookup(udplookup.run(recverr=True), title="with IP_RECVERR")
    try:
        assert set(_by_gid(ax, "lookup:reported:")) == {"4", "5"} and not _by_gid(ax, "lookup:unreported:")
        assert "+ IP_RECVERR" in _by_gid(ax, "lookup:sender:")["stranger 2"].get_text()
        assert ax.get_title() == "with IP_RECVERR"
    finally:
        plt.close(ax.figure)


def _broken(lookup, change):
    data = lookup.as_dict()
    change(data)
    return data


@pytest.mark.parametrize("change, kind, words", [
    (lambda d: d.pop("datagrams"), ArgumentError, ["'datagrams'", "udplookup.run()"]),
    (lambda d: d.update(port=0), ArgumentError, ["port", "0"]),
    (lambda d: d.update(datagrams=[]), ArgumentError, ["0", str(udp.MAX_LOOKUP_ROWS)]),
    (lambda d: d.update(datagrams="123"), ArgumentTypeError, ["'123'"]),
    (lambda d: d["datagrams"][0].update(sender="mallory"), ArgumentError, ["'mallory'", "'peer'"]),
    (lambda d: d["datagrams"][4].update(received_by="unconnected"), ArgumentError, ["'unconnected'", "not open"]),
    (lambda d: d["datagrams"][1].update(sender_saw="ECONNREFUSED"), ArgumentError, ["Datagram 2", "no ICMP"]),
    (lambda d: d["datagrams"][3].update(icmp_sent=-1), ArgumentError, ["-1"]),
    (lambda d: d["datagrams"][1].update(number=1), ArgumentError, ["[1, 1, 3, 4, 5, 6]"]),
    (lambda d: d["receivers"].update(connected="bob"), ArgumentError, ["'bob'"]),
    (lambda d: d["senders"].update(peer={"connected": "yes"}), ArgumentError, ["'peer'", "'yes'"]),
])
def test_lookup_refuses_a_malformed_result_with_a_sentence(lookup, change, kind, words):
    with pytest.raises(kind) as caught:
        viz.udp_lookup(_broken(lookup, change))
    message = str(caught.value)
    assert message.endswith(".") and all(word in message for word in words), message
    plt.close("all")


def test_lookup_refuses_what_is_not_a_result():
    with pytest.raises(TypeError) as caught:
        viz.udp_lookup([1, 2, 3])
    assert "[1, 2, 3]" in str(caught.value) and str(caught.value).endswith(".")


def test_lookup_draws_on_the_axes_it_is_given(lookup):
    fig, ax = plt.subplots()
    try:
        assert viz.udp_lookup(lookup, ax=ax) is ax
        assert len(fig.axes) == 1 and "udp_lookup" in viz.__all__
    finally:
        plt.close(fig)
