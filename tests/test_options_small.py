"""Tests of sockcourse.bench.options.small: timeouts, SO_BROADCAST, SO_DONTROUTE, urgent data, SO_RCVLOWAT, SO_SNDLOWAT.

Each experiment runs for real on loopback and its effect is asserted as a
count, an errno or an order, never as a tight time (a timeout's lower bound
is the one time a busy machine cannot shorten). Where a claim rests on the
option, the test also runs the case without it and sees the effect go.
"""

from __future__ import annotations

import errno
import math
import os
import socket
import struct
import sys
import time

import pytest

from sockcourse.bench.options import Tried, experiments, explore, small
from sockcourse.core.errors import ArgumentError
from sockcourse.kernel import options

pytestmark = [pytest.mark.timeout(60),
              pytest.mark.skipif(not sys.platform.startswith("linux"),
                                 reason="These errnos, the loopback broadcast address and SO_SNDLOWAT's refusal "
                                        "are Linux's."),
              pytest.mark.usefixtures("nothing_left_behind")]


# -- the plumbing ------------------------------------------------------------------------------
def test_pair_is_connected_blocking_and_sets_no_option():
    with small.pair() as (client, server):
        assert client.getpeername() == server.getsockname()
        assert client.gettimeout() is None and server.gettimeout() is None
        for sock in (client, server):
            assert options.get(sock, "SO_RCVTIMEO") == 0.0 and options.get(sock, "SO_SNDTIMEO") == 0.0
            assert options.get(sock, "SO_RCVLOWAT") == 1 and not options.get(sock, "SO_OOBINLINE")
        client.sendall(b"hello")
        assert small.wait_queued(server, 5) == 5 == small.queued(server)
    assert client.fileno() == -1 and server.fileno() == -1


def test_pair_closes_both_ends_when_the_block_raises():
    with pytest.raises(RuntimeError):
        with small.pair() as (client, server):
            raise RuntimeError("a cell's mistake")
    assert client.fileno() == -1 and server.fileno() == -1


def test_wait_queued_gives_up_after_its_timeout():
    with small.pair() as (_client, server):
        start = time.monotonic()
        assert small.wait_queued(server, 1, timeout=0.05) == 0
        assert time.monotonic() - start >= 0.05


def test_trickle_sends_count_chunks_and_stops_early_when_the_block_ends():
    with small.pair() as (client, server):
        with small.trickle(client, b"ab", every=0.001, count=5) as sender:
            assert small.wait_queued(server, 10) == 10
        assert sender.sent == 10 and sender.error is None
        with small.trickle(client, b"ab", every=0.5, count=100) as slow:
            pass  # the end of the block stops it long before 100 sends
        assert slow.sent == 0 and not slow._thread.is_alive()


def test_trickle_keeps_the_error_of_its_thread():
    with small.pair() as (client, _server):
        client.shutdown(socket.SHUT_WR)  # every later send fails with EPIPE
        with small.trickle(client, b"x", every=0.001, count=3) as sender:
            deadline = time.monotonic() + 2
            while sender.error is None and time.monotonic() < deadline:
                time.sleep(0.01)
    assert isinstance(sender.error, BrokenPipeError)


@pytest.mark.parametrize("kwargs, named", [
    (dict(chunk=b""), "b''"), (dict(chunk="1234"), "'1234'"), (dict(every=0), "every=0"),
    (dict(every=float("nan")), "every=nan"), (dict(count=0), "count=0"), (dict(count=True), "count=True"),
])
def test_trickle_refuses_bad_arguments_in_a_sentence(kwargs, named):
    with small.pair() as (client, _server):
        with pytest.raises(ArgumentError, match="trickle") as caught:
            small.trickle(client, **kwargs)
    assert named in str(caught.value) and str(caught.value).endswith(".")


def test_trickle_refuses_a_closed_socket():
    sock = socket.socket()
    sock.close()
    with pytest.raises(ArgumentError, match="open socket"):
        small.trickle(sock)


# -- SO_RCVTIMEO and SO_SNDTIMEO --------------------------------------------------------------------
def test_receive_timeout_fails_with_eagain_after_the_timeout():
    result = small.receive_timeout(0.2)
    assert (result.error, result.exception) == ("EAGAIN", "BlockingIOError")
    assert result.readback == pytest.approx(0.2, abs=0.02)
    assert result.waited >= 0.8 * result.seconds
    assert result.to_dict()["error"] == "EAGAIN"


def test_a_longer_receive_timeout_waits_longer():
    short, long = small.receive_timeout(0.05), small.receive_timeout(0.4)
    assert long.waited > 2 * short.waited


def test_the_kernel_keeps_timeouts_in_whole_ticks():
    """A timeout is rounded up to a clock tick: never less than asked, and a tick is at most 10 ms (HZ >= 100)."""
    result = small.receive_timeout(0.001)
    assert 0.001 <= result.readback <= 0.011


def test_send_timeout_takes_part_then_fails_with_eagain():
    result = small.send_timeout(0.2)
    assert (result.error, result.exception) == ("EAGAIN", "BlockingIOError")
    assert result.accepted == sum(taken for taken, _ in result.calls) > 0
    assert result.partial >= 1, "the send that filled the buffers should have taken only part of its chunk"
    assert all(seconds >= 0.8 * result.seconds for taken, seconds in result.calls if taken < result.chunk)
    assert result.waited >= 0.8 * result.seconds
    assert result.to_dict()["partial"] == result.partial


def test_python_settimeout_uses_no_socket_option():
    result = small.python_timeout(0.2)
    assert (result.rcvtimeo, result.sndtimeo) == (0.0, 0.0)
    assert result.nonblocking
    assert (result.exception, result.errno) == ("TimeoutError", "0")
    assert result.waited >= 0.8 * result.seconds


def test_without_settimeout_the_descriptor_stays_blocking():
    """The cause, taken away: no Python timeout, no O_NONBLOCK (so the check above is not always true)."""
    import fcntl

    with small.pair() as (_client, server):
        assert not fcntl.fcntl(server.fileno(), fcntl.F_GETFL) & os.O_NONBLOCK


def test_a_timeout_the_kernel_rounds_to_zero_is_refused_before_any_wait():
    with small.pair() as (_client, server):
        with pytest.raises(ArgumentError, match="would be sent as 0, which means 'wait for ever'"):
            small._set_timeout(server, "SO_RCVTIMEO", 1e-7)


@pytest.mark.parametrize("run", [small.receive_timeout, small.send_timeout, small.python_timeout])
@pytest.mark.parametrize("value", [0, -1, 0.0001, 6, float("nan"), math.inf, "0.2", True, None])
def test_timeouts_refuse_bad_seconds_in_a_sentence(run, value):
    with pytest.raises(ArgumentError) as caught:
        run(value)
    message = str(caught.value)
    assert repr(value) in message and "for example 0.2" in message
    if value == 0 and not isinstance(value, bool):
        assert "wait for ever" in message


# -- SO_BROADCAST and SO_DONTROUTE --------------------------------------------------------------
def test_broadcast_needs_so_broadcast():
    refused, sent = small.broadcast(False), small.broadcast(True)
    assert (refused.readback, refused.sendto, refused.exception, refused.received) == \
        (False, "EACCES", "PermissionError", b"")
    assert (sent.readback, sent.sendto, sent.received) == (True, "sent", b"hello, everyone")
    assert sent.to_dict()["received"] == "hello, everyone"


def test_a_unicast_datagram_needs_no_so_broadcast():
    """The cause, taken away: to 127.0.0.1 the same sendto() goes through without the option."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as receiver, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        receiver.settimeout(2)
        receiver.bind(("127.0.0.1", 0))
        sender.sendto(b"just you", receiver.getsockname())
        assert receiver.recvfrom(100)[0] == b"just you"


@pytest.mark.parametrize("on", [False, True])
def test_dont_route_on_loopback_delivers(on):
    result = small.dont_route(on)
    assert (result.readback, result.connected, result.delivered) == (on, "connected", 4)


@pytest.mark.parametrize("run", [small.broadcast, small.dont_route, small.urgent])
@pytest.mark.parametrize("value", [2, "yes", None, 0.5])
def test_on_off_experiments_refuse_anything_but_a_flag(run, value):
    with pytest.raises(ArgumentError, match="True or False") as caught:
        run(value)
    assert repr(value) in str(caught.value)


# -- urgent data ------------------------------------------------------------------------------------
def test_urgent_byte_is_read_apart_from_the_stream():
    result = small.urgent(inline=False)
    assert result.exceptional and not result.readback
    assert (result.oob, result.oob_error) == (b"!", "")
    assert (result.first_read, result.stream) == (b"abc", b"abcdef")


def test_with_so_oobinline_the_urgent_byte_stays_in_the_stream():
    result = small.urgent(inline=True)
    assert result.exceptional and result.readback
    assert (result.oob, result.oob_error) == (None, "EINVAL")
    assert (result.first_read, result.stream) == (b"abc", b"abc!def")
    assert result.to_dict()["stream"] == "abc!def"


def test_without_msg_oob_nothing_is_urgent():
    """The cause, taken away: the same bytes sent plainly put nothing in select()'s exceptional set."""
    with small.pair() as (client, server):
        client.sendall(b"abc!def")
        assert small.wait_queued(server, 7) == 7
        _, _, exceptional = select_now(server)
        assert not exceptional
        server.settimeout(2)
        with pytest.raises(OSError) as caught:
            server.recv(1, socket.MSG_OOB)
        assert caught.value.errno == errno.EINVAL


def select_now(sock):
    import select

    return select.select([sock], [], [sock], 0)


# -- SO_RCVLOWAT ---------------------------------------------------------------------------------------
def test_rcvlowat_holds_recv_back_until_enough_bytes_are_there():
    plain, held = small.low_water(1), small.low_water(10)
    assert plain.first_bytes < 10 <= held.first_bytes
    assert held.waited > plain.waited
    assert held.waited >= 2 * held.every  # two pauses at least: no busy machine makes a sleep shorter


def test_rcvlowat_zero_is_kept_as_one():
    assert small.low_water(0).readback == 1


def test_select_says_readable_only_from_the_low_water_mark():
    assert small.select_readable(10, (4, 8)) == ((4, False), (12, True))


def test_without_a_low_water_mark_select_says_readable_from_one_byte():
    assert small.select_readable(1, (4, 8)) == ((4, True), (12, True))


def test_a_kernel_timeout_returns_fewer_bytes_than_the_mark():
    with small.pair() as (client, server):
        server.setsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT, 100)
        server.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("@ll", 0, 50_000))
        client.sendall(b"abcd")
        small.wait_queued(server, 4)
        assert server.recv(200) == b"abcd"


@pytest.mark.parametrize("value", [-1, 65, 1.5, "10", True, None])
def test_low_water_refuses_bad_marks_in_a_sentence(value):
    with pytest.raises(ArgumentError, match="SO_RCVLOWAT") as caught:
        small.low_water(value)
    assert repr(value) in str(caught.value)


@pytest.mark.parametrize("sizes", [(), (0,), [4] * 11, "48", (4.0,), (True,)])
def test_select_readable_refuses_bad_sizes(sizes):
    with pytest.raises(ArgumentError, match="sizes=") as caught:
        small.select_readable(10, sizes)
    assert repr(sizes) in str(caught.value)


# -- the explorer -------------------------------------------------------------------------------------
def test_explore_and_values_cover_the_same_options():
    assert set(small.EXPLORE) == set(small.VALUES)
    assert set(small.EXPLORE) == {"SO_RCVTIMEO", "SO_SNDTIMEO", "SO_BROADCAST", "SO_DONTROUTE", "SO_OOBINLINE",
                                  "SO_RCVLOWAT", "SO_SNDLOWAT"}
    offered = experiments()
    for option in small.EXPLORE:
        assert offered[option][0] is small.EXPLORE[option] and offered[option][1] == small.VALUES[option]


def test_every_offered_value_runs_and_says_what_it_measured():
    for option, values in small.VALUES.items():
        for value in values:
            tried = small.EXPLORE[option](value)
            assert isinstance(tried, Tried) and tried.option == option and tried.value == value
            assert tried.sentence.endswith(".") and len(tried.sentence.split()) > 8
            if option == "SO_SNDLOWAT":
                assert tried.number is None and "ENOPROTOOPT" in tried.sentence and tried.readback == 1
            else:
                assert isinstance(tried.number, (int, float)) and tried.unit
            assert set(tried.to_dict()) == {"option", "value", "readback", "number", "unit", "sentence"}


def test_the_explorers_numbers_change_with_the_value():
    assert explore("SO_RCVTIMEO", 0.5).number > 2 * explore("SO_RCVTIMEO", 0.05).number
    assert explore("SO_SNDTIMEO", 0.3).number > 2 * explore("SO_SNDTIMEO", 0.05).number
    assert (explore("SO_OOBINLINE", False).number, explore("SO_OOBINLINE", True).number) == (6, 7)
    assert (explore("SO_BROADCAST", False).number, explore("SO_BROADCAST", True).number) == (0, 1)
    assert explore("SO_RCVLOWAT", 1).number < 10 <= explore("SO_RCVLOWAT", 10).number
    assert explore("SO_DONTROUTE", True).number == explore("SO_DONTROUTE", False).number == 4


@pytest.mark.parametrize("option, value, named", [
    ("SO_RCVTIMEO", 0, "wait for ever"), ("SO_RCVTIMEO", 2.0, "to 1.0"), ("SO_SNDTIMEO", 0.5, "to 0.3"),
    ("SO_RCVLOWAT", 100, "0 to 64"), ("SO_OOBINLINE", "on", "True or False"),
    ("SO_BROADCAST", 3, "True or False"), ("SO_DONTROUTE", None, "True or False"),
    ("SO_SNDLOWAT", -5, "from 0 to"), ("SO_SNDLOWAT", "100", "from 0 to"),
])
def test_the_explorer_refuses_bad_values_with_option_value_and_range(option, value, named):
    with pytest.raises(ArgumentError) as caught:
        explore(option, value)
    message = str(caught.value)
    assert option in message and repr(value) in message and named in message and message.endswith(".")
