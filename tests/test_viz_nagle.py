"""Tests of chapter 07's timing pictures (sockcourse.viz.nagle), drawn from real measurements.

The tests look at what was drawn (line data, marker counts, medians, labels, scales), not at pixels.
"""

from __future__ import annotations

import statistics
import sys

import matplotlib.pyplot as plt
import pytest
from matplotlib.colors import to_hex

from sockcourse.bench.options import timing
from sockcourse.core.errors import UsageError
from sockcourse.viz import nagle
from sockcourse.viz.style import PALETTE

pytestmark = [pytest.mark.timeout(60),
              pytest.mark.skipif(not sys.platform.startswith("linux"), reason="The measurements are Linux's.")]


@pytest.fixture(scope="module")
def points():
    return timing.buffer_throughput([4096, 65536, 1 << 20], seconds=0.08)


@pytest.fixture(scope="module")
def samples():
    return (timing.write_write_read(False, 6), timing.write_write_read(True, 6),
            timing.write_write_read(False, 6, "sendmsg"))


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def lines(ax, gid: str):
    return [line for line in ax.get_lines() if line.get_gid() == gid]


def test_buffer_throughput_draws_the_measured_rates_and_the_computed_ceiling(points):
    ax = nagle.buffer_throughput(points, path_rtt=0.020)
    sized = [p for p in points if p.size is not None]
    (measured,) = lines(ax, "buffers:measured")
    assert list(measured.get_xdata()) == [p.size for p in sized]
    assert list(measured.get_ydata()) == pytest.approx([p.mb_per_s for p in sized])
    (computed,) = lines(ax, "buffers:computed")
    expected = [(p.window or p.size) / 0.020 / 1e6 for p in sized]
    assert list(computed.get_ydata()) == pytest.approx(expected)
    assert computed.get_linestyle() == "--"
    assert "computed, not measured" in computed.get_label()
    (default,) = lines(ax, "buffers:default")
    assert default.get_ydata()[0] == pytest.approx(points[0].mb_per_s)
    assert ax.get_xscale() == ax.get_yscale() == "log"
    assert "MB/s" in ax.get_ylabel() and "bytes" in ax.get_xlabel() and ax.get_title()
    assert [t.get_text() for t in ax.get_xticklabels()] == ["4 KiB", "64 KiB", "1 MiB"]
    assert to_hex(measured.get_color()) == PALETTE["blue"].lower()


def test_buffer_throughput_takes_dicts_and_a_longer_path_lowers_the_ceiling(points):
    dicts = [p.to_dict() for p in points]
    near = lines(nagle.buffer_throughput(dicts, path_rtt=0.020), "buffers:computed")[0].get_ydata()
    far = lines(nagle.buffer_throughput(dicts, path_rtt=0.080), "buffers:computed")[0].get_ydata()
    assert list(far) == pytest.approx([v / 4 for v in near])
    without_default = [p for p in dicts if p["size"] is not None]
    assert not lines(nagle.buffer_throughput(without_default), "buffers:default")


def test_buffer_throughput_draws_on_the_axes_it_is_given(points):
    fig, ax = plt.subplots()
    assert nagle.buffer_throughput(points, ax=ax, title="mine") is ax and ax.get_title() == "mine"


def test_nagle_latency_draws_every_round_and_marks_the_medians(samples):
    ax = nagle.nagle_latency(*samples)
    for index, row in enumerate(samples):
        (dots,) = [c for c in ax.collections if c.get_gid() == f"nagle:rounds:{index}"]
        assert list(dots.get_offsets()[:, 0]) == pytest.approx([v * 1000 for v in row])
        (median,) = lines(ax, f"nagle:median:{index}")
        assert median.get_xdata()[0] == pytest.approx(statistics.median(row) * 1000)
    medians = {t.get_gid(): t.get_text() for t in ax.texts if (t.get_gid() or "").startswith("nagle:median-text")}
    assert len(medians) == 3 and all(text.startswith("median ") for text in medians.values())
    assert ax.get_xscale() == "log" and "ms" in ax.get_xlabel()
    assert lines(ax, "nagle:delack")[0].get_xdata()[0] == 40
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels[-1].startswith("Nagle on (the default)") and "sendmsg" in labels[0]
    assert "6 rounds each" in ax.get_title()


def test_nagle_latency_with_two_rows_and_no_delack_line(samples):
    ax = nagle.nagle_latency(samples[0], samples[1], delack_ms=None, labels=["on", "off"])
    assert not lines(ax, "nagle:delack")
    assert [t.get_text() for t in ax.get_yticklabels()] == ["off", "on"]


@pytest.mark.parametrize("call, words", [
    (lambda: nagle.buffer_throughput([]), "non-empty list"),
    (lambda: nagle.buffer_throughput([{"size": 4096, "mb_per_s": -1}]), "-1"),
    (lambda: nagle.buffer_throughput([{"size": "big", "mb_per_s": 5.0}]), "'big'"),
    (lambda: nagle.buffer_throughput([{"size": None, "mb_per_s": 5.0}]), "only the default"),
    (lambda: nagle.buffer_throughput([{"size": 4096, "mb_per_s": 5.0}], path_rtt=0), "path_rtt"),
    (lambda: nagle.nagle_latency([], [0.001]), "samples_off"),
    (lambda: nagle.nagle_latency([0.04], [float("nan")]), "nan"),
    (lambda: nagle.nagle_latency([0.04], [0.001], labels=["one"]), "labels"),
    (lambda: nagle.nagle_latency([0.04], [0.001], delack_ms=-5), "-5"),
])
def test_bad_input_gets_a_sentence(call, words):
    with pytest.raises(UsageError) as caught:
        call()
    assert words in str(caught.value) and str(caught.value).endswith(".")
