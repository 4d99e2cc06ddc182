"""Tests of chapter 07's SO_REUSEPORT picture (sockcourse.viz.reuseport), drawn from a real measurement.

The tests look at what was drawn (bar heights, the even-share line, labels,
colours), not at pixels.
"""

from __future__ import annotations

import sys

import matplotlib
import matplotlib.pyplot as plt
import pytest
from matplotlib.colors import to_rgba

from sockcourse.core.errors import ArgumentError
from sockcourse.viz import reuseport
from sockcourse.viz.reuseport import reuseport_spread
from sockcourse.viz.style import PALETTE

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def measured():
    """A real spread: 300 connections over two listeners sharing a port with SO_REUSEPORT (Linux)."""
    if not sys.platform.startswith("linux"):
        pytest.skip("SO_REUSEPORT spreads TCP connections over listeners on Linux only.")
    from sockcourse.bench.options import restart
    return restart.reuseport_spread(300)


def _bars(ax):
    return [p for p in ax.patches if p.get_gid() == "reuseport:bar"]


def _texts(ax, gid):
    return [t.get_text() for t in ax.texts if t.get_gid() == gid]


def test_bars_are_the_measured_counts_with_their_shares(measured):
    ax = reuseport_spread(measured.counts)
    try:
        bars = _bars(ax)
        assert [round(bar.get_height()) for bar in bars] == list(measured.counts)
        for text, count in zip(_texts(ax, "reuseport:count"), measured.counts):
            assert f"{count:,}" in text and f"{100 * count / 300:.0f} %" in text
        assert "300 connections over 2 listeners" in ax.get_title()
        assert [t.get_text() for t in ax.get_xticklabels()] == ["listener 1", "listener 2"]
    finally:
        plt.close(ax.figure)


def test_the_even_share_is_marked_where_it_belongs(measured):
    ax = reuseport_spread(measured.counts)
    try:
        (line,) = [line for line in ax.lines if line.get_gid() == "reuseport:even"]
        assert set(line.get_ydata()) == {150}
        assert "150 each" in _texts(ax, "reuseport:even-label")[0]
    finally:
        plt.close(ax.figure)


def test_a_dict_gives_the_labels_and_each_listener_its_own_colour():
    ax = reuseport_spread({"worker A": 120, "worker B": 100, "worker C": 80})
    try:
        assert [t.get_text() for t in ax.get_xticklabels()] == ["worker A", "worker B", "worker C"]
        colours = [bar.get_facecolor() for bar in _bars(ax)]
        assert len(set(colours)) == 3
        assert colours[0] == to_rgba(PALETTE["blue"])
        assert ax.get_ylabel().endswith("(count)") and ax.get_xlabel()
    finally:
        plt.close(ax.figure)


def test_draws_on_the_axes_it_is_given_and_leaves_rcparams_alone():
    before = dict(matplotlib.rcParams)
    fig, ax = plt.subplots()
    try:
        assert reuseport_spread([3, 5], ax=ax, title="mine") is ax
        assert ax.get_title() == "mine"
        assert dict(matplotlib.rcParams) == before
    finally:
        plt.close(fig)


@pytest.mark.parametrize("counts, words", [
    ([], "non-empty list"),
    ("500 500", "non-empty list"),
    ([500, -1], "but got -1"),
    ([500, 2.5], "but got 2.5"),
    ([True, 3], "but got True"),
    ([0, 0], "add up to 0"),
])
def test_bad_counts_get_a_sentence(counts, words):
    with pytest.raises(ArgumentError, match=words):
        reuseport_spread(counts)
    plt.close("all")


def test_labels_must_match_the_counts():
    with pytest.raises(ArgumentError, match="2 labels for 3 counts"):
        reuseport_spread([1, 2, 3], labels=["a", "b"])


def test_the_module_opens_no_socket():
    assert "socket" not in vars(reuseport)
