"""Tests of chapter 03's pictures (sockcourse.viz.unix), drawn from real sockets and real measurements.

The tests look at what was drawn (frames, labels, bar heights, colours), not at pixels.
"""

from __future__ import annotations

import os
import re
import socket
import statistics

import matplotlib
import matplotlib.pyplot as plt
import pytest
from matplotlib.colors import to_rgba

from sockcourse import bench, viz
from sockcourse.viz import unix

pytestmark = pytest.mark.timeout(60)

MESSAGES = [b"first message", b"second", b"and the third one"]


@pytest.fixture(scope="module")
def measured():
    """A small real comparison: round trips and bulk transfers over both kinds, on a thread peer."""
    return bench.compare(rounds=150, total_bytes=2 * bench.MiB, repeats=3, peer="thread")


def boundaries_of_real_sockets() -> dict:
    """Three send() calls on each UNIX socket type, and what recv(1024) returned."""
    results = {}
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM, socket.SOCK_SEQPACKET):
        sender, receiver = socket.socketpair(socket.AF_UNIX, kind)
        with sender, receiver:
            for message in MESSAGES:
                sender.send(message)
            receiver.setblocking(False)
            received = []
            for _ in range(10):
                try:
                    received.append(receiver.recv(1024))
                except BlockingIOError:
                    break
        results[kind.name] = (MESSAGES, received)
    return results


def patches(ax, gid_prefix: str) -> list:
    return [p for p in ax.patches if (p.get_gid() or "").startswith(gid_prefix)]


def texts(ax, gid_prefix: str | None = None) -> list[str]:
    return [t.get_text() for t in ax.texts if gid_prefix is None or (t.get_gid() or "").startswith(gid_prefix)]


def test_viz_package_exports_the_chapter_03_pictures():
    for name in ("message_boundaries", "fd_passing", "latency_comparison", "throughput_comparison"):
        assert getattr(viz, name) is getattr(unix, name) and name in viz.__all__


# -- message boundaries --------------------------------------------------------------
def test_boundaries_draw_one_frame_per_call():
    results = boundaries_of_real_sockets()
    assert len(results["SOCK_STREAM"][1]) < 3, "a stream should glue the three messages together"
    fig, ax = plt.subplots()
    assert unix.message_boundaries(results, ax=ax) is ax
    assert len(patches(ax, "boundaries:send")) == 3 * 3
    assert len(patches(ax, "boundaries:recv")) == sum(len(received) for _, received in results.values())
    assert texts(ax, "boundaries:type") == ["SOCK_STREAM", "SOCK_DGRAM", "SOCK_SEQPACKET"]
    assert "bytes" in ax.get_xlabel() and ax.get_title()


def test_boundaries_keep_each_message_colour_across_calls():
    results = boundaries_of_real_sockets()
    ax = unix.message_boundaries({"SOCK_STREAM": results["SOCK_STREAM"]})
    for index, message in enumerate(MESSAGES):
        pieces = patches(ax, f"boundaries:bytes:{index}")
        assert {p.get_facecolor()[:3] for p in pieces} == {to_rgba(unix.MESSAGE_COLOURS[index])[:3]}
        # The message's bytes appear once above (sent) and once below (received).
        assert sum(p.get_width() for p in pieces) == 2 * len(message)


def test_boundaries_label_the_calls_that_are_wide_enough():
    results = boundaries_of_real_sockets()
    ax = unix.message_boundaries({"SOCK_DGRAM": results["SOCK_DGRAM"]})
    assert "#3: 17 B" in texts(ax, "boundaries:label:recv")


@pytest.mark.parametrize("bad, error, words", [
    ({}, TypeError, "Expected a dict"),
    ({"SOCK_STREAM": [b"x"]}, TypeError, "pair (sent, received)"),
    ({"SOCK_STREAM": (["x"], ["x"])}, TypeError, "must be bytes"),
    ({"SOCK_DGRAM": ([b"abc", b"def"], [b"abc"])}, ValueError, "3 of 6 bytes"),
])
def test_boundaries_refuse_bad_input_in_a_sentence(bad, error, words):
    with pytest.raises(error, match=re.escape(words)):
        unix.message_boundaries(bad)


# -- a passed descriptor ---------------------------------------------------------------
def test_fd_passing_shows_the_real_numbers(short_tmp):
    """Pass a real descriptor over a real socketpair (in one process), then draw what happened."""
    path = os.path.join(short_tmp, "note")
    with open(path, "wb") as f:
        f.write(b"twelve bytes")
    sent = os.open(path, os.O_RDONLY)
    os.unlink(path)
    a, b = socket.socketpair()
    try:
        with a, b:
            socket.send_fds(a, [b"x"], [sent])
            _, fds, _, _ = socket.recv_fds(b, 10, 1)
        got = fds[0]
        try:
            data = os.read(got, 100)
            info = os.fstat(sent)
            assert got != sent and data == b"twelve bytes"
            ax = unix.fd_passing(sent, got, offset=os.lseek(sent, 0, os.SEEK_CUR), links=info.st_nlink,
                                 size=info.st_size)
        finally:
            os.close(got)
    finally:
        os.close(sent)
    words = texts(ax)
    assert f"fd {sent}" in words and f"fd {got}" in words
    assert any("offset 12 B" in w for w in words), "the receiver's read moved the shared offset"
    assert any("links = 0" in w and "no name left" in w for w in words)
    assert len(patches(ax, "fdpass:points")) == 2 and len(patches(ax, "fdpass:scm_rights")) == 1
    assert not ax.axison and ax.get_title()


def open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts descriptors in Linux's /proc")
def test_fd_passing_says_when_the_descriptor_appears():
    """The caption's claim, tried: sendmsg() adds no descriptor anywhere; recvmsg() adds one."""
    r, w = os.pipe()
    a, b = socket.socketpair()
    try:
        with a, b:
            before = open_descriptors()
            socket.send_fds(a, [b"x"], [r])
            after_send = open_descriptors()
            _, fds, _, _ = socket.recv_fds(b, 10, 1)
            after_recv = open_descriptors()
        for fd in fds:
            os.close(fd)
    finally:
        os.close(r)
        os.close(w)
    assert after_send == before and after_recv == before + 1 and len(fds) == 1
    ax = unix.fd_passing(r, fds[0], offset=0, links=1, size=0)
    caption = [t.get_text() for t in ax.texts if t.get_gid() == "fdpass:when"]
    assert caption and "recvmsg() installs" in caption[0] and "in flight" in caption[0]


@pytest.mark.parametrize("field", ["sender_fd", "receiver_fd", "offset", "links", "size"])
def test_fd_passing_refuses_negative_numbers(field):
    values = {"sender_fd": 5, "receiver_fd": 4, "offset": 0, "links": 0, "size": 1}
    values[field] = -1
    with pytest.raises(ValueError, match=f"The {field} must be a whole number of 0 or more, but got -1"):
        unix.fd_passing(values.pop("sender_fd"), values.pop("receiver_fd"), **values)


# -- UNIX against TCP ---------------------------------------------------------------------
def test_latency_comparison_writes_the_true_medians(measured):
    fig, ax = plt.subplots()
    assert unix.latency_comparison(measured["rtt"], ax=ax) is ax
    expected = [f"median {statistics.median(measured['rtt'][k]) * 1e6:.1f} µs" for k in bench.KINDS]
    assert texts(ax, "latency:median") == expected
    boxes = patches(ax, "latency:box")
    assert [to_rgba(b.get_facecolor())[:3] for b in boxes] == [to_rgba(unix.KIND_COLOURS[k])[:3] for k in bench.KINDS]
    assert "µs" in ax.get_ylabel()
    assert [t.get_text() for t in ax.get_xticklabels()] == [unix.KIND_LABELS[k] for k in bench.KINDS]
    assert "150 rounds each" in ax.get_title()


def test_throughput_comparison_bars_stand_at_the_medians(measured):
    ax = unix.throughput_comparison(measured["throughput"])
    bars = patches(ax, "throughput:bar")
    heights = [b.get_height() for b in bars]
    assert heights == pytest.approx([statistics.median(measured["throughput"][k]) / 1e9 for k in bench.KINDS])
    runs = [c for c in ax.collections if c.get_gid() == "throughput:runs"]
    assert [len(c.get_offsets()) for c in runs] == [3, 3]
    assert "Gbit/s" in ax.get_ylabel()


@pytest.mark.parametrize("draw", [unix.latency_comparison, unix.throughput_comparison])
@pytest.mark.parametrize("bad, error", [([1.0], TypeError), ({}, TypeError), ({"tcp": []}, ValueError),
                                        ({"tcp": [1.0, -2.0]}, ValueError), ({"tcp": [float("nan")]}, ValueError)])
def test_comparisons_refuse_what_is_not_a_measurement(draw, bad, error):
    with pytest.raises(error, match="bench"):
        draw(bad)


def test_no_picture_touches_global_settings(measured):
    before = dict(matplotlib.rcParams)
    unix.message_boundaries(boundaries_of_real_sockets())
    unix.fd_passing(3, 4, offset=1, links=1, size=2)
    unix.latency_comparison(measured["rtt"])
    unix.throughput_comparison(measured["throughput"])
    assert dict(matplotlib.rcParams) == before
