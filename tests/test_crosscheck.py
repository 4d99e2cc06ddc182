"""The option table asked again from outside Python: C's getsockopt(2) (sockopts.c) and `ss`."""

from __future__ import annotations

import socket

import pytest

from sockcourse import kernel
from sockcourse.core.errors import ArgumentTypeError, UsageError
from sockcourse.peers import crosscheck, toolchains

needs_c = pytest.mark.skipif(toolchains.missing("c") is not None, reason=str(toolchains.missing("c")))
needs_ss = pytest.mark.skipif(crosscheck.ss_unavailable() is not None, reason=str(crosscheck.ss_unavailable()))


@needs_c
def test_c_and_python_agree_on_every_option():
    answers = crosscheck.c_getsockopt()
    table = kernel.probe_all()
    assert set(answers) == {p.option for p in table}
    comparison = table.compare(answers)
    assert comparison.agreeing == len(comparison), repr(comparison)
    assert f"{len(comparison)} of {len(comparison)} options agree." in repr(comparison)


@needs_c
def test_a_different_answer_is_seen_as_a_disagreement():
    answers = dict(crosscheck.c_getsockopt())
    answers["SO_SNDBUF"] = crosscheck.CAnswer("SO_SNDBUF", value=answers["SO_SNDBUF"].value + 1)
    answers["SO_TYPE"] = crosscheck.CAnswer("SO_TYPE", errno="EINVAL")
    answers["SO_USELOOPBACK"] = crosscheck.CAnswer("SO_USELOOPBACK", value=0)
    del answers["TCP_NODELAY"]
    comparison = kernel.probe_all().compare(answers)
    wrong = {row.option for row in comparison if not row.same}
    assert wrong == {"SO_SNDBUF", "SO_TYPE", "SO_USELOOPBACK", "TCP_NODELAY"}
    assert "NO" in repr(comparison) and "not asked" in repr(comparison)


def test_the_c_lines_parse_into_python_values():
    parse = crosscheck._parse_c_line
    assert parse("SO_LINGER 1 5").value == (1, 5) == kernel.Linger(True, 5)
    assert parse("SO_RCVTIMEO 2 500000").value == 2.5
    assert parse("TCP_INFO 232 bytes").value == 232
    assert parse("SO_SNDLOWAT errno ENOPROTOOPT").errno == "ENOPROTOOPT"
    assert parse("SO_USELOOPBACK missing").missing


@needs_ss
def test_ss_sees_the_buffers_and_the_keepalive_timer_getsockopt_reports():
    with socket.create_server(("127.0.0.1", 0)) as listener:
        with socket.create_connection(listener.getsockname(), timeout=5) as client:
            server, _ = listener.accept()
            with server:
                plain = crosscheck.ss_view(client)
                assert plain.timer is None and plain.state == "ESTAB"
                client.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
                client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32768)
                seen = crosscheck.ss_view(client)
                assert seen.timer == "keepalive"
                assert seen.rcvbuf == client.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) == 65536
                assert seen.sndbuf == client.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF)
                assert seen.cwnd == kernel.tcp_info(client).snd_cwnd


def test_ss_view_refuses_what_is_not_a_connected_socket():
    with pytest.raises(ArgumentTypeError, match=r"needs an open, connected TCP socket, but got 'nope'"):
        crosscheck.ss_view("nope")
    with socket.socket() as lonely:
        if crosscheck.ss_unavailable() is None:
            with pytest.raises(UsageError, match="needs a connected socket.*connect it first"):
                crosscheck.ss_view(lonely)
