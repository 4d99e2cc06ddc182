"""Tests of sockcourse.bench.options.restart: SO_REUSEADDR, SO_REUSEPORT, SO_LINGER and SO_ERROR, on real sockets.

Each experiment runs for real on loopback and its effect is asserted as a
count or an errno, never as a tight time. Where a claim of the chapter rests
on a cause (TIME_WAIT is what holds the port; the RST is what loses the
bytes), the test also runs the case without that cause and sees the effect go.
"""

from __future__ import annotations

import errno
import socket
import sys
import time

import pytest

from sockcourse import kernel
from sockcourse.bench.options import Tried, restart
from sockcourse.core.errors import ArgumentError
from sockcourse.kernel.options import Linger

pytestmark = [pytest.mark.timeout(60),
              pytest.mark.skipif(not sys.platform.startswith("linux"),
                                 reason="These errnos, states and SO_REUSEPORT's spreading are Linux's."),
              pytest.mark.usefixtures("nothing_left_behind")]


# -- SO_REUSEADDR --------------------------------------------------------------------
def test_a_restart_over_time_wait_needs_so_reuseaddr():
    result = restart.time_wait_restart()
    assert result.time_wait == ("TIME_WAIT",)
    assert result.without_reuse == "EADDRINUSE"
    assert result.with_reuse == "bound"
    assert result.two_listeners == "EADDRINUSE"  # SO_REUSEADDR never lets two live listeners share a port on Linux
    assert result.to_dict()["with_reuse"] == "bound"


def test_the_old_socket_must_have_set_so_reuseaddr_too():
    result = restart.time_wait_restart(old_reuse=False)
    assert result.time_wait == ("TIME_WAIT",)
    assert (result.without_reuse, result.with_reuse) == ("EADDRINUSE", "EADDRINUSE")


def test_without_time_wait_on_the_servers_side_the_port_is_free_at_once():
    """The cause, taken away: when the client closes first, TIME_WAIT is the client's, and the port binds."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        client = socket.create_connection(("127.0.0.1", port), timeout=5)
        server_side, _ = listener.accept()
        client_address = client.getsockname()
        client.close()                       # the client first, this time
        server_side.settimeout(5)
        assert server_side.recv(1) == b""
        server_side.close()
    rows = kernel.states(port, client_address, until="TIME_WAIT")
    assert rows.of_role("client") == ["TIME_WAIT"] and "TIME_WAIT" not in rows.of_role("server")
    with socket.socket() as again:
        again.bind(("127.0.0.1", port))      # no SO_REUSEADDR needed
        again.listen()


def test_time_wait_restart_refuses_a_value_that_is_not_a_flag():
    with pytest.raises(ArgumentError, match=r"old_reuse .* but got 'yes'"):
        restart.time_wait_restart("yes")


# -- SO_REUSEPORT --------------------------------------------------------------------
def test_two_listeners_share_a_thousand_connections_about_half_each():
    result = restart.reuseport_spread(1000)
    assert result.connections == 1000 and sum(result.counts) == 1000 and len(result.counts) == 2
    assert all(share > 0.30 for share in result.shares), result.counts
    assert result.expected == 500
    # The clients closed first: TIME_WAIT is on their side, none on the listeners' port.
    assert result.client_time_wait >= 900 and result.server_time_wait == 0
    assert result.seconds < 20
    assert result.to_dict()["counts"] == list(result.counts)


def test_three_listeners_each_get_a_share():
    result = restart.reuseport_spread(600, listeners=3)
    assert sum(result.counts) == 600 and all(count > 120 for count in result.counts), result.counts


def test_spread_over_one_listener_gives_it_everything_and_leaves_it_open():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        listener.settimeout(3.0)
        result = restart.spread([listener], 50)
        assert result.counts == (50,)
        assert listener.gettimeout() == 3.0 and listener.fileno() != -1


def test_a_second_bind_without_so_reuseport_is_refused():
    with socket.socket() as first, socket.socket() as second:
        first.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        first.bind(("127.0.0.1", 0))
        first.listen()
        with pytest.raises(OSError) as caught:
            second.bind(first.getsockname())
        assert caught.value.errno == errno.EADDRINUSE


@pytest.mark.parametrize("listeners, words", [
    ("not a list", "list of listening sockets"),
    ([], "1 to 16"),
])
def test_spread_refuses_what_is_not_a_group_of_listeners(listeners, words):
    with pytest.raises(ArgumentError, match=words):
        restart.spread(listeners)


def test_spread_refuses_sockets_that_do_not_listen_or_do_not_share_a_port():
    with socket.socket() as quiet, socket.socket() as one, socket.socket() as other:
        quiet.bind(("127.0.0.1", 0))
        with pytest.raises(ArgumentError, match="is not listening"):
            restart.spread([quiet])
        for sock in (one, other):
            sock.bind(("127.0.0.1", 0))
            sock.listen()
        with pytest.raises(ArgumentError, match="must share one port"):
            restart.spread([one, other])
        with pytest.raises(ArgumentError, match="twice"):
            restart.spread([one, one])


@pytest.mark.parametrize("connections", [0, restart.MAX_CONNECTIONS + 1, 2.5, "1000", True])
def test_spread_refuses_a_wrong_number_of_connections(connections):
    with pytest.raises(ArgumentError, match=f"but got {connections!r}"):
        restart.reuseport_spread(connections)


# -- SO_LINGER -----------------------------------------------------------------------
def test_a_normal_close_delivers_every_byte_then_eof():
    result = restart.linger_close(None)
    assert result.sent > result.queued > 0       # some bytes still in the client's kernel at close()
    assert (result.received, result.ending) == (result.sent, "EOF")
    assert result.lost == 0
    assert result.readback == (False, 0)
    assert result.client_after_close and set(result.client_after_close) <= {"FIN_WAIT1", "FIN_WAIT2"}
    assert result.client_after_read == ("TIME_WAIT",)


def test_linger_zero_resets_and_loses_what_the_clients_kernel_still_held():
    result = restart.linger_close(Linger(True, 0))
    assert result.ending == "ECONNRESET"
    # What Linux keeps: the bytes already in the server's receive queue are still read; the rest is gone.
    assert result.received == result.queued < result.sent
    assert result.lost == result.sent - result.queued > 0
    assert result.readback == (True, 0)
    assert "TIME_WAIT" not in result.client_after_close + result.client_after_read


def test_linger_with_a_timeout_makes_close_wait_then_delivers_anyway():
    plain = restart.linger_close(None)
    waiting = restart.linger_close(Linger(True, 1))
    assert waiting.close_seconds > 0.5 and waiting.close_seconds > 10 * plain.close_seconds
    assert (waiting.received, waiting.ending) == (waiting.sent, "EOF")
    assert waiting.client_after_read == ("TIME_WAIT",)


def test_unread_data_leaves_the_server_unread_and_closes_everything():
    with restart.unread_data() as pair:
        queued = pair.queued()
        assert 0 < queued < pair.sent
        assert pair.client_states() == ["ESTABLISHED"]
    assert pair.client.fileno() == pair.server.fileno() == pair.listener.fileno() == -1


@pytest.mark.parametrize("linger", ["on", Linger(True, -1), ("on", 0), (2, 0), Linger(True, 2.5), Linger(True, 31)])
def test_linger_close_refuses_what_is_not_a_linger(linger):
    with pytest.raises(ArgumentError, match=r"SO_LINGER takes None .* but linger_close\(\) got"):
        restart.linger_close(linger)


# -- SO_ERROR ------------------------------------------------------------------------
def test_a_refused_non_blocking_connect_is_told_by_so_error_once():
    result = restart.connect_result(listening=False)
    assert result.connect_ex == "EINPROGRESS"     # Linux: even on loopback the answer comes later
    assert result.writable
    assert (result.so_error, result.so_error_name) == (errno.ECONNREFUSED, "ECONNREFUSED")
    assert result.so_error_again == 0              # reading SO_ERROR cleared it


def test_a_connect_to_a_listener_leaves_so_error_zero():
    result = restart.connect_result(listening=True)
    assert result.writable and result.so_error == 0 and result.so_error_name == "0"


def test_connect_result_refuses_a_value_that_is_not_a_flag():
    with pytest.raises(ArgumentError, match="but got 1"):
        restart.connect_result(1)
    with pytest.raises(ArgumentError, match="timeout"):
        restart.connect_result(True, timeout=0)


# -- the explorer's experiments --------------------------------------------------------
def test_explore_covers_the_settable_options_and_offers_their_values():
    assert set(restart.EXPLORE) == set(restart.VALUES) == {"SO_REUSEADDR", "SO_REUSEPORT", "SO_LINGER"}
    assert "SO_ERROR" not in restart.EXPLORE


@pytest.mark.parametrize("option", sorted(restart.EXPLORE))
def test_every_value_runs_quickly_and_changes_the_number(option):
    tried = []
    for value in restart.VALUES[option]:
        started = time.monotonic()
        result = restart.EXPLORE[option](value)
        assert time.monotonic() - started < 6.0     # 1.5 s asked for; room for a loaded machine
        assert isinstance(result, Tried) and result.option == option and result.value == value
        assert isinstance(result.number, (int, float)) and result.unit and result.sentence.endswith(".")
        assert result.to_dict()["option"] == option
        tried.append(result)
    numbers = [t.number for t in tried]
    if option == "SO_LINGER":
        plain, reset, waited = tried
        assert plain.number == 100 and waited.number == 100 and reset.number < 100
        assert reset.readback == Linger(True, 0) and "ConnectionResetError" in reset.sentence
    else:
        off, on = tried
        assert (off.readback, on.readback) == (False, True)
        assert off.number == 0 and on.number > 0, numbers
        assert "EADDRINUSE" in off.sentence


@pytest.mark.parametrize("option, value", [
    ("SO_REUSEADDR", "yes"), ("SO_REUSEADDR", 2), ("SO_REUSEPORT", None),
    ("SO_LINGER", Linger(True, 5)), ("SO_LINGER", 0),
])
def test_explore_refuses_bad_values_with_a_sentence(option, value):
    with pytest.raises(ArgumentError) as caught:
        restart.EXPLORE[option](value)
    message = str(caught.value)
    assert option in message and repr(value) in message and message.endswith(".")
