"""Tests of sockcourse.bench.options.vanish and its picture: keep-alive and TCP_INFO with the cable pulled.

The experiments run for real, in private network namespaces, once per module
(three keep-alive children at the same time, then one dark path), and every
assertion is an order or a count: which connection noticed, in which order,
how many probes, a window of one segment, nothing acknowledged in the dark.
"""

from __future__ import annotations


import pytest

from sockcourse.bench.options import vanish
from sockcourse.core.errors import ArgumentError, ArgumentTypeError, UsageError
from sockcourse.peers import netns
from sockcourse.viz.tcpinfo import tcp_info_timeline

pytestmark = [pytest.mark.timeout(90), pytest.mark.usefixtures("nothing_left_behind")]

WHY = netns.unavailable()
needs_namespace = pytest.mark.skipif(WHY is not None, reason=WHY or "")


@pytest.fixture(scope="module")
def keepalives():
    """Three runs at once: count 3 with keep-alive, count 1 with it, count 1 with SO_KEEPALIVE left off."""
    if WHY:
        pytest.skip(WHY)
    runs = {"three": vanish.start_keepalive(idle=1, interval=1, count=3),
            "one": vanish.start_keepalive(idle=1, interval=1, count=1),
            "off": vanish.start_keepalive(idle=1, interval=1, count=1, keepalive=False)}
    try:
        return {name: run.result() for name, run in runs.items()}
    finally:
        for run in runs.values():
            run.stop()


@pytest.fixture(scope="module")
def dark():
    if WHY:
        pytest.skip(WHY)
    return vanish.dark_path()


# -- keep-alive ------------------------------------------------------------------------------------
def test_with_keepalive_the_vanished_peer_is_noticed_with_etimedout(keepalives):
    ka = keepalives["three"]
    assert ka.tuned.noticed and ka.tuned.errno_name == "ETIMEDOUT"
    assert "110" in ka.tuned.error
    assert 0.9 * ka.expected <= ka.tuned.seconds < 2 * ka.expected + 1
    assert ka.samples[-1].state == "CLOSE"


def test_without_keepalive_the_same_connection_is_still_waiting_later(keepalives):
    for ka in keepalives.values():
        assert not ka.plain.noticed and ka.plain.errno_name is None
        assert ka.plain.keepalive is False
    three = keepalives["three"]
    assert three.plain.seconds >= three.tuned.seconds + 0.5


def test_the_kernel_kept_what_was_set(keepalives):
    tuned = keepalives["three"].tuned
    assert (tuned.keepalive, tuned.idle, tuned.interval, tuned.count) == (True, 1, 1, 3)
    assert keepalives["off"].tuned.keepalive is False


def test_probes_count_up_one_by_one_and_are_never_backed_off(keepalives):
    assert keepalives["three"].probe_counts == (0, 1, 2, 3)
    assert keepalives["one"].probe_counts == (0, 1)
    assert {sample.backoff for sample in keepalives["three"].samples} == {0}
    times = keepalives["three"].probe_times
    assert times[1] < times[2] < times[3]


def test_more_probes_take_longer(keepalives):
    assert keepalives["one"].tuned.noticed
    assert keepalives["one"].tuned.seconds < keepalives["three"].tuned.seconds


def test_the_three_numbers_do_nothing_without_so_keepalive(keepalives):
    off = keepalives["off"]
    assert not off.tuned.noticed
    assert off.probe_counts == (0,)
    assert off.tuned.seconds > keepalives["one"].tuned.seconds


def test_the_machine_defaults_are_read(keepalives):
    defaults = keepalives["three"].defaults
    assert set(defaults) == {"tcp_keepalive_time", "tcp_keepalive_intvl", "tcp_keepalive_probes"}
    with open("/proc/sys/net/ipv4/tcp_keepalive_time") as file:
        assert defaults["tcp_keepalive_time"] == int(file.read())


def test_the_result_is_plain_data_and_comes_back_whole(keepalives):
    ka = keepalives["three"]
    assert vanish.Keepalive.from_dict(ka.to_dict()) == ka


# -- the dark path ------------------------------------------------------------------------------------
def test_the_cable_is_out_when_asked(dark):
    assert 0.3 <= dark.dark_from < 0.5 and dark.dark_until - dark.dark_from >= 0.95
    assert dark.samples[-1].t >= 2.0
    assert len(dark.samples) >= 40  # one about every 15 ms, at least a third of them on a busy machine


def test_the_window_falls_to_one_segment_and_nothing_is_acknowledged_in_the_dark(dark):
    before = [s for s in dark.samples if s.t < dark.dark_from]
    assert max(s.cwnd for s in before) >= 4
    assert dark.smallest_cwnd_dark == 1
    assert dark.acked_while_dark == 0


def test_the_retransmission_timer_doubles(dark):
    inside = [t for t in dark.timeouts if dark.dark_from <= t < dark.dark_until]
    assert len(inside) >= 2
    steps = dark.rto_steps_ms
    assert len(steps) >= 3
    for shorter, longer in zip(steps[:2], steps[1:3]):
        assert abs(longer - 2 * shorter) <= 2


def test_the_stream_moves_again_only_after_the_next_timeout(dark):
    assert dark.moving_again is not None and dark.moving_again > dark.dark_until + 0.1
    after = [s for s in dark.samples if s.t >= dark.moving_again]
    assert max(s.cwnd for s in after) >= 4  # slow start refilled the window
    assert after[-1].bytes_acked > after[0].bytes_acked
    assert after[-1].total_retrans > max(s.total_retrans for s in dark.samples if s.t < dark.dark_until)


def test_the_dark_path_is_plain_data(dark):
    data = dark.to_dict()
    assert vanish.DarkPath.from_dict(data) == dark
    assert data["summary"]["smallest_cwnd_dark"] == 1


# -- the picture --------------------------------------------------------------------------------------
def _gids(ax) -> set:
    found = set()
    for axes in (ax, ax.right_axis):
        for artist in axes.get_children():
            if artist.get_gid():
                found.add(artist.get_gid())
    return found


def test_the_timeline_draws_window_retransmissions_dark_and_timeouts(dark):
    ax = tcp_info_timeline(dark.to_dict())
    assert {"tcpinfo:cwnd", "tcpinfo:retrans", "tcpinfo:dark", "tcpinfo:timeout", "tcpinfo:moving"} <= _gids(ax)
    assert "segments" in ax.get_ylabel() and "(s)" in ax.get_xlabel() and ax.get_title()
    assert "retransmitted" in ax.right_axis.get_ylabel()
    timeouts = [a for a in ax.get_children() if a.get_gid() == "tcpinfo:timeout"]
    assert len(timeouts) == len(dark.timeouts)


def test_the_timeline_without_a_dark_interval_shades_nothing(dark):
    samples = dark.to_dict()["samples"]
    ax = tcp_info_timeline(samples)
    assert "tcpinfo:dark" not in _gids(ax) and "tcpinfo:cwnd" in _gids(ax)


@pytest.mark.parametrize("series, dark_interval, kind, words", [
    ([], None, ArgumentTypeError, "[]"),
    ({"rows": []}, None, ArgumentTypeError, "'rows'"),
    ([{"t": 0, "cwnd": 10}], None, ArgumentError, "total_retrans"),
    ([{"t": 1, "cwnd": 10, "total_retrans": 0}, {"t": 0, "cwnd": 10, "total_retrans": 0}], None,
     ArgumentError, "backwards"),
    ([{"t": 0, "cwnd": 10, "total_retrans": 0}], (2, 1), ArgumentError, "(2, 1)"),
])
def test_the_timeline_refuses_bad_data_in_a_sentence(series, dark_interval, kind, words):
    with pytest.raises(kind) as caught:
        tcp_info_timeline(series, dark_interval)
    assert words in str(caught.value)


# -- bad input, and the inside halves outside ----------------------------------------------------------------
@pytest.mark.parametrize("kwargs, kind, words", [
    ({"idle": 0}, ArgumentError, "got 0"),
    ({"idle": "1"}, ArgumentError, "'1'"),
    ({"interval": 1.5}, ArgumentError, "1.5"),
    ({"count": 200}, ArgumentError, "200"),
    ({"idle": 10, "interval": 5, "count": 3}, ArgumentError, "25 s"),
    ({"keepalive": "yes"}, ArgumentTypeError, "'yes'"),
])
def test_bad_keepalive_values_are_one_sentence(kwargs, kind, words):
    with pytest.raises(kind) as caught:
        vanish.keepalive(**kwargs)
    assert words in str(caught.value)


@pytest.mark.parametrize("kwargs, words", [
    ({"dark_at": 0}, "dark_at"),
    ({"dark_for": float("nan")}, "nan"),
    ({"duration": 60}, "60"),
    ({"every": 0}, "every"),
    ({"dark_at": 1.0, "dark_for": 2.0, "duration": 2.5}, "before the run ends"),
])
def test_bad_dark_path_values_are_one_sentence(kwargs, words):
    with pytest.raises(ArgumentError) as caught:
        vanish.dark_path(**kwargs)
    assert words in str(caught.value)


@pytest.mark.parametrize("inside", [vanish.watch_keepalive, vanish.stream_in_the_dark])
def test_the_inside_halves_refuse_to_run_in_the_machines_own_namespace(inside):
    with pytest.raises(UsageError, match="private network namespace"):
        inside()


def test_no_option_is_offered_to_the_explorer():
    # One keep-alive run lasts at least idle + one interval (2 s), beyond the explorer's 1.5 s.
    assert vanish.EXPLORE == {} and vanish.VALUES == {}
    assert "1.5 s" in vanish.__doc__
