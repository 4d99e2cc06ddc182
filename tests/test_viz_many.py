"""Tests of chapter 04's pictures (sockcourse.viz.many), drawn from real measurements.

The data comes from real servers, real client processes and the kernel's own
accept queue; the tests look at what was drawn (line data, bar heights,
markers, labels), not at pixels.
"""

from __future__ import annotations

import math
import os
import socket
import time

import pytest
from matplotlib.colors import to_rgba

from sockcourse import kernel, manyclients, viz
from sockcourse.viz import many

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def runs():
    """A small real sweep: the iterative server fails at 2, the others serve 1, 2 and 5."""
    return manyclients.sweep(["iterative", "threads", "selectors", "asyncio"], counts=(1, 2, 5), stall=0.3)


def lines_by_gid(ax) -> dict:
    return {line.get_gid(): line for line in ax.get_lines() if line.get_gid()}


def test_scaling_draws_one_line_per_model_from_the_good_runs(runs):
    ax = viz.scaling(runs, "seconds")
    lines = lines_by_gid(ax)
    for model in ("threads", "selectors", "asyncio"):
        line = lines[f"scaling:{model}"]
        assert list(line.get_xdata()) == [1, 2, 5]
        expected = [r.seconds for r in runs if r.model == model]
        assert list(line.get_ydata()) == pytest.approx(expected)
        assert to_rgba(line.get_color()) == to_rgba(many.MODEL_STYLES[model]["color"])
    # The iterative server succeeded once (1 client), then gave up: a point, and a cross above the lines.
    assert list(lines["scaling:iterative"].get_xdata()) == [1]
    cross = lines["scaling:failed:iterative"]
    assert list(cross.get_xdata()) == [2] and cross.get_ydata()[0] > 1 - many._GAVE_UP_BAND  # in the band, no time
    assert any("iterative at 2 never finished" in text.get_text() for text in ax.texts)
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert "concurrent connections" in ax.get_xlabel() and "seconds" in ax.get_ylabel()
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[:4] == ["iterative", "threads", "selectors", "asyncio"] and "gave up" in labels[-1]


def test_scaling_of_threads_shows_one_thread_per_client_and_names_the_flat_lines(runs):
    ax = viz.scaling(runs, "threads", legend=False)
    lines = lines_by_gid(ax)
    assert list(lines["scaling:threads"].get_ydata()) == [3, 4, 7], "a thread per client, plus two"
    assert list(lines["scaling:selectors"].get_ydata()) == [2, 2, 2]
    assert ax.get_legend() is None
    flat = [text.get_text() for text in ax.texts if text.get_gid() == "scaling:flat"]
    assert flat == ["iterative, selectors and asyncio: 2 each"]
    assert "scaling:failed:iterative" not in lines, "only the time axes mark failures"


def test_scaling_of_memory_plots_the_growth_of_each_server(runs):
    ax = viz.scaling(runs, "memory")
    line = lines_by_gid(ax)["scaling:threads"]
    expected = [max(r.memory_mib, 0.01) for r in runs if r.model == "threads"]
    assert list(line.get_ydata()) == pytest.approx(expected)
    assert "MiB" in ax.get_ylabel()


def labelled_ticks(axis, limits) -> list:
    low, high = sorted(limits)
    return [tick.get_loc() for tick in axis.get_major_ticks() + axis.get_minor_ticks()
            if tick.label1.get_visible() and tick.label1.get_text() and low <= tick.get_loc() <= high]


def test_scaling_ticks_are_powers_of_ten_with_no_minor_ticks(runs):
    import matplotlib.pyplot as plt
    from sockcourse.bench.manyclients import Run

    ax = viz.scaling(runs, "seconds")
    ax.figure.canvas.draw()
    for axis, limits in ((ax.xaxis, ax.get_xlim()), (ax.yaxis, ax.get_ylim())):
        ticks = labelled_ticks(axis, limits)
        assert len(ticks) >= 2, ticks
        steps = {round(t / 10 ** math.floor(math.log10(t) + 1e-9), 6) for t in ticks}
        assert steps <= {1.0, 2.0, 5.0}, ticks
        assert list(axis.get_minorticklocs()) == [], "no minor ticks: they cost most of the drawing"
    plt.close(ax.figure)
    # Less than two powers of ten, or less than two steps of 1, 2 and 5: still numbers on every axis.
    for clients in ((1, 3, 6), (2, 3, 4)):
        narrow = [Run("threads", n, ok=True, seconds=0.002 * n, memory_mib=0.1 * n, threads=n + 2) for n in clients]
        for metric in ("seconds", "memory", "threads"):
            ax = viz.scaling(narrow, metric)
            ax.figure.canvas.draw()
            assert len(labelled_ticks(ax.xaxis, ax.get_xlim())) >= 2, (clients, metric, "x")
            assert len(labelled_ticks(ax.yaxis, ax.get_ylim())) >= 2, (clients, metric, "y")
            plt.close(ax.figure)


def test_scaling_refuses_bad_input_with_a_sentence(runs):
    with pytest.raises(ValueError, match="Unknown metric 'speed'"):
        viz.scaling(runs, "speed")
    with pytest.raises(TypeError, match="non-empty list of manyclients.Run"):
        viz.scaling([], "seconds")
    with pytest.raises(TypeError, match="Expected manyclients.Run objects"):
        viz.scaling([{"model": "threads"}], "seconds")


def accept_queue_length(listener) -> int:
    line = next(l for l in kernel.proc_net_tcp(listener) if l.split()[3] == "0A")
    return int(line.split()[4].split(":")[1], 16)


@pytest.mark.skipif(not os.path.exists("/proc/net/tcp"),
                    reason="the accept queue is read from Linux's /proc/net/tcp")
def test_accept_queue_draws_what_the_kernel_reported():
    steps, clients = [], []
    with socket.create_server(("127.0.0.1", 0), backlog=1) as listener:
        try:
            for number in range(1, 4):
                client = socket.socket()
                client.setblocking(False)
                clients.append(client)
                client.connect_ex(listener.getsockname())
                time.sleep(0.02)
                waiting = kernel.states(listener).of_role("client").count("SYN_SENT")
                steps.append({"step": f"connect #{number}", "queue": accept_queue_length(listener),
                              "syn_sent": waiting})
        finally:
            for client in clients:
                client.close()
    assert [s["queue"] for s in steps] == [1, 2, 2], "Linux holds backlog + 1 finished handshakes"
    assert [s["syn_sent"] for s in steps] == [0, 0, 1]

    ax = viz.accept_queue(steps, backlog=1)
    queued = [p for p in ax.patches if p.get_gid() == "queue:accept"]
    waiting = [p for p in ax.patches if p.get_gid() == "queue:syn_sent"]
    assert [p.get_height() for p in queued] == [1, 2, 2]
    assert [p.get_height() for p in waiting] == [0, 0, 1]
    assert [p.get_y() for p in waiting] == [1, 2, 2], "the SYN_SENT clients sit on top of the queue"
    backlog_line = lines_by_gid(ax)["queue:backlog"]
    assert list(backlog_line.get_ydata()) == [1, 1]
    assert list(lines_by_gid(ax)["queue:most"].get_ydata()) == [2, 2]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["connect #1", "connect #2", "connect #3"]


def test_accept_queue_refuses_bad_input_with_a_sentence():
    with pytest.raises(TypeError, match="'step', 'queue' and 'syn_sent'"):
        viz.accept_queue([{"step": "x"}], backlog=1)
    with pytest.raises(ValueError, match="whole number given to listen"):
        viz.accept_queue([{"step": "x", "queue": 1, "syn_sent": 0}], backlog=-2)


def test_service_timeline_shows_everyone_waiting_behind_the_slow_client():
    rows = manyclients.waiting_times("iterative", clients=3, slow=0.1)
    ax = viz.service_timeline(rows, until=0.5)
    lines = lines_by_gid(ax)
    for row in rows:
        answer = lines[f"timeline:answer:{row['client']}"]
        assert answer.get_xdata()[0] == pytest.approx(row["answered"] * 1000)
        wait = lines[f"timeline:wait:{row['client']}"]
        assert list(wait.get_xdata()) == pytest.approx([row["connected"] * 1000, row["answered"] * 1000])
    slow_end = lines["timeline:answer:0"].get_xdata()[0]
    assert all(lines[f"timeline:answer:{i}"].get_xdata()[0] >= slow_end for i in (1, 2))
    assert to_rgba(lines["timeline:wait:0"].get_color()) == to_rgba(many._SLOW)
    assert ax.get_xlim() == (0, 500) and "ms" in ax.get_xlabel()
    assert [t.get_text() for t in ax.get_yticklabels()][0] == "client 0 (slow)"


def test_service_timeline_refuses_bad_input_with_a_sentence():
    with pytest.raises(TypeError, match="from manyclients.waiting_times"):
        viz.service_timeline([1, 2, 3])
    with pytest.raises(ValueError, match="never got its echo"):
        viz.service_timeline([{"client": 0, "slow": True, "connected": 0.0, "answered": None}])


def test_a_run_that_gave_up_sits_in_a_band_with_no_y_value_and_its_reason(runs):
    ax = viz.scaling(runs, "seconds")
    cross = lines_by_gid(ax)["scaling:failed:iterative"]
    assert cross.get_transform() != ax.transData, "the cross must not be placed at a made-up time"
    (_, y), = cross.get_xydata()
    assert y > 1 - many._GAVE_UP_BAND, "the cross sits in the band at the top of the Axes"
    texts = [t.get_text() for t in ax.texts]
    assert any("iterative at 2 never finished" in t and "nothing moved for 0.3 s" in t for t in texts), texts
    good = [line for gid, line in lines_by_gid(ax).items() if not gid.startswith("scaling:failed")]
    top = max(y for line in good for y in line.get_ydata())
    low, high = ax.get_ylim()
    band_floor = 10 ** (math.log10(low) + (math.log10(high) - math.log10(low)) * (1 - many._GAVE_UP_BAND))
    assert top < band_floor, "the lines stay below the band"


def test_kernel_memory_is_a_panel_of_its_own_in_mib(runs):
    ax = viz.scaling(runs, "kernel")
    assert "kernel" in ax.get_ylabel() and "MiB" in ax.get_ylabel()
    assert "user-space" in viz.scaling(runs, "memory").get_ylabel()
    old = [manyclients.Run(r.model, r.clients, ok=r.ok, seconds=r.seconds, memory_mib=r.memory_mib,
                           threads=r.threads) for r in runs]  # a file saved before kernel_mib existed
    ax = viz.scaling(old, "kernel")
    assert [t.get_gid() for t in ax.texts] == ["scaling:empty"] and ax.get_yscale() == "linear"
