"""Tests of chapter 07's timing options (sockcourse.bench.options.timing), each run on real sockets.

What the kernel kept is compared with /proc/sys and with the rules of
socket(7) and include/net/sock.h; the time effects are checked as orders
(a ratio of ten, a range of a few hundred milliseconds), never a tight time.
"""

from __future__ import annotations

import os
import socket
import sys

import pytest

from sockcourse.bench.options import Tried, timing
from sockcourse.core.errors import ArgumentError, UsageError

pytestmark = [pytest.mark.timeout(90),
              pytest.mark.skipif(not sys.platform.startswith("linux"), reason="These are Linux's rules and numbers."),
              pytest.mark.usefixtures("nothing_left_behind")]


def _proc(name: str) -> int:
    with open(f"/proc/sys/net/core/{name}", encoding="ascii") as file:
        return int(file.read())


def _has_net_admin() -> bool:
    with open("/proc/self/status", encoding="ascii") as file:
        for line in file:
            if line.startswith("CapEff:"):
                return bool(int(line.split()[1], 16) >> 12 & 1)  # CAP_NET_ADMIN is capability 12
    return False


# -- what the kernel keeps ---------------------------------------------------------------
def test_limits_are_the_files_in_proc_sys():
    bounds = timing.limits()
    assert bounds.wmem_max == _proc("wmem_max") and bounds.rmem_max == _proc("rmem_max")
    assert bounds.wmem_default == _proc("wmem_default")
    assert len(bounds.tcp_rmem) == 3 and bounds.tcp_rmem[0] <= bounds.tcp_rmem[1] <= bounds.tcp_rmem[2]
    assert bounds.to_dict()["tcp_wmem"] == list(bounds.tcp_wmem)


def test_linux_doubles_a_request():
    (row,) = timing.buffer_sizes([4096])
    assert (row.sndbuf, row.rcvbuf) == (8192, 8192)
    assert row.sndbuf_note == row.rcvbuf_note == "doubled"


def test_a_tiny_request_gets_the_floor_of_include_net_sock_h():
    # SOCK_MIN_SNDBUF = 2 * TCP_SKB_MIN_TRUESIZE and SOCK_MIN_RCVBUF = TCP_SKB_MIN_TRUESIZE,
    # where TCP_SKB_MIN_TRUESIZE = 2048 + SKB_DATA_ALIGN(sizeof(struct sk_buff)).
    sndbuf, rcvbuf = timing.floor()
    assert sndbuf == 2 * rcvbuf
    assert 2048 < rcvbuf <= 2048 + 1024
    (zero,) = timing.buffer_sizes([0])
    assert (zero.sndbuf, zero.rcvbuf) == (sndbuf, rcvbuf) and zero.sndbuf_note == "raised to the floor"


def test_a_huge_request_is_clamped_to_the_maximum_then_doubled():
    wmem_max, rmem_max = _proc("wmem_max"), _proc("rmem_max")
    (row,) = timing.buffer_sizes([2 * max(wmem_max, rmem_max) + 4096])
    assert row.sndbuf == 2 * wmem_max and row.rcvbuf == 2 * rmem_max
    assert row.sndbuf_note == "clamped to the maximum, then doubled"


def test_sndbufforce_passes_the_maximum_only_with_cap_net_admin():
    request = 2 * _proc("wmem_max") + 4096
    (row,) = timing.buffer_sizes([request])
    if _has_net_admin():
        assert row.forced_sndbuf == 2 * request and row.forced_errno == ""
    else:
        assert row.forced_sndbuf is None and row.forced_errno == "EPERM"


def test_a_set_buffer_stays_and_a_default_one_is_autotuned():
    default, fixed = timing.buffer_throughput([64 * 1024], seconds=0.15)
    assert default.size is None and default.autotuned, default
    assert default.rcvbuf_after > default.rcvbuf_before
    assert fixed.size == 64 * 1024 and not fixed.autotuned
    assert fixed.rcvbuf_before == fixed.rcvbuf_after == 2 * 64 * 1024
    assert fixed.sndbuf_before == fixed.sndbuf_after == 2 * 64 * 1024
    assert fixed.received > 0 and fixed.to_dict()["mb_per_s"] == fixed.mb_per_s > 0


def test_a_big_buffer_streams_faster_than_a_small_one():
    # 4 KiB at both ends means a round of wake-ups for every few KiB; 4 MiB lets
    # megabytes go per wake-up. The gap was about 15 to 25 here; 3 holds on a busy machine.
    small, big = timing.buffer_throughput([4096, 4 << 20], seconds=0.15, include_default=False)
    assert big.mb_per_s > 3 * small.mb_per_s, (small, big)
    assert small.window is None or small.window <= 2 * 8192  # the receiver cannot announce more than it has


def test_the_computed_ceiling_is_window_over_rtt():
    assert timing.ceiling(65536, 0.020) == pytest.approx(3.2768)
    assert timing.ceiling(65536, 0.040) == pytest.approx(timing.ceiling(65536) / 2)


# -- Nagle and the delayed ACK ---------------------------------------------------------------
@pytest.fixture(scope="module")
def rounds():
    return {"nagle": timing.write_write_read(False, 12), "nodelay": timing.write_write_read(True, 12),
            "sendmsg": timing.write_write_read(False, 12, "sendmsg"),
            "one send": timing.write_write_read(False, 12, "one send")}


def test_nagle_waits_for_the_delayed_ack(rounds):
    nagle, nodelay = timing.median_ms(rounds["nagle"]), timing.median_ms(rounds["nodelay"])
    assert nagle > 10 * nodelay, (nagle, nodelay)
    assert 20 < nagle < 250, nagle  # TCP_DELACK_MIN is 40 ms; a loaded machine adds, it cannot take away
    assert len(rounds["nagle"]) == len(rounds["nodelay"]) == 12


def test_one_call_for_header_and_body_avoids_the_stall(rounds):
    nagle = timing.median_ms(rounds["nagle"])
    for mode in ("sendmsg", "one send"):
        assert 10 * timing.median_ms(rounds[mode]) < nagle, (mode, rounds[mode])


def test_write_write_read_stops_at_its_time_limit():
    samples = timing.write_write_read(False, 100, time_limit=0.1)
    assert 1 <= len(samples) < 10


# -- the explorer -------------------------------------------------------------------------
def test_explore_covers_exactly_the_values_it_offers():
    assert set(timing.EXPLORE) == set(timing.VALUES) == {"TCP_NODELAY", "SO_SNDBUF", "SO_RCVBUF"}
    assert timing.VALUES["TCP_NODELAY"] == [False, True]


def test_explore_tcp_nodelay_changes_the_number():
    off, on = timing.EXPLORE["TCP_NODELAY"](False), timing.EXPLORE["TCP_NODELAY"](True)
    assert isinstance(off, Tried) and off.option == "TCP_NODELAY" and off.unit == "ms per round"
    assert (off.readback, on.readback) == (False, True)
    assert off.number > 10 * on.number
    assert f"{off.number:.2f} ms" in off.sentence and off.sentence.endswith(".")


@pytest.mark.parametrize("name", ["SO_SNDBUF", "SO_RCVBUF"])
def test_explore_buffers_report_what_the_kernel_kept(name):
    tried = timing.EXPLORE[name](4096)
    assert tried.option == name and tried.value == 4096 and tried.readback == 8192
    assert tried.unit == "MB/s" and tried.number > 0
    assert "8,192" in tried.sentence and tried.to_dict()["readback"] == 8192


@pytest.mark.parametrize("name, value", [("TCP_NODELAY", "yes"), ("TCP_NODELAY", 1), ("SO_SNDBUF", -1),
                                         ("SO_RCVBUF", 2.5), ("SO_SNDBUF", True), ("SO_RCVBUF", 2 ** 31)])
def test_explore_refuses_bad_values_with_a_sentence(name, value):
    with pytest.raises(ArgumentError, match=name) as caught:
        timing.EXPLORE[name](value)
    assert repr(value) in str(caught.value)


# -- bad input ---------------------------------------------------------------------------------
@pytest.mark.parametrize("call, words", [
    (lambda: timing.buffer_sizes("big"), "'big'"),
    (lambda: timing.buffer_sizes([-1]), "-1"),
    (lambda: timing.buffer_sizes([]), "from 1 to"),
    (lambda: timing.buffer_throughput([4096], include_default="yes"), "'yes'"),
    (lambda: timing.transfer(4096, seconds=0), "seconds"),
    (lambda: timing.transfer(4096, seconds=60), "seconds"),
    (lambda: timing.transfer(sender={"SO_LINGER": 1}), "SO_LINGER"),
    (lambda: timing.write_write_read("yes"), "'yes'"),
    (lambda: timing.write_write_read(False, 0), "rounds"),
    (lambda: timing.write_write_read(False, 5, "three sends"), "'three sends'"),
    (lambda: timing.write_write_read(False, 5, body=b""), "body"),
    (lambda: timing.ceiling(0), "window"),
    (lambda: timing.median_ms([]), "empty"),
])
def test_bad_input_gets_a_sentence_naming_the_value(call, words):
    with pytest.raises(UsageError) as caught:
        call()
    assert words in str(caught.value) and str(caught.value).endswith(".")


def test_nothing_is_left_open():
    fds = len(os.listdir("/proc/self/fd"))
    timing.transfer(16384, seconds=0.05)
    timing.write_write_read(True, 3)
    timing.buffer_sizes([1, 4096])
    assert len(os.listdir("/proc/self/fd")) <= fds
    with socket.socket() as probe:  # the machine can still make sockets: nothing ran out
        assert probe.fileno() >= 0
