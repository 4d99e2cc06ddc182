"""QUIC with aioquic on loopback: handshake, echo, verification, 0-RTT, clean stops, bad input."""

from __future__ import annotations

import math
import socket
import threading
import time

import psutil
import pytest

from sockcourse import quic, registry, tls
from sockcourse.core.errors import AddressInUseError
from sockcourse.core.lifecycle import Endpoint
from sockcourse.link import link

pytestmark = pytest.mark.timeout(60)


def quic_threads():
    return [t for t in threading.enumerate() if t.name.startswith("sockcourse-quic")]


def test_handshake_and_echo_complete_verified_against_the_course_ca(ca):
    with quic.serve(tls=ca) as server:
        assert server in registry.running()
        reply = quic.request(server.address, b"hello over QUIC", ca=ca)
        # The CA's file works as well as the authority itself.
        again = quic.request(server.address, b"by file", ca=ca.ca_file, server_name="127.0.0.1")
    assert reply.reply == b"hello over QUIC" and again.reply == b"by file"
    assert reply.alpn == quic.ALPN and reply.cipher.startswith("TLS_AES_")
    assert not reply.early_data and not reply.resumed
    assert reply.ticket is not None, "the server hands out a session ticket for next time"
    assert 0 < reply.seconds < 2
    received = [event.data for event in server.trace.of_kind("recv")]
    assert received == [b"hello over QUIC", b"by file"]
    assert server.connections == 2
    assert not server.running and server not in registry.running()
    assert quic_threads() == [], "stop() ends the server's loop thread; request() ends its own"


def test_zero_rtt_needs_a_ticket_and_each_ticket_works_once(ca):
    with quic.serve(tls=ca) as server:
        first = quic.request(server.address, b"one", ca=ca)
        second = quic.request(server.address, b"two", ca=ca, session_ticket=first.ticket)
        replayed = quic.request(server.address, b"three", ca=ca, session_ticket=first.ticket)
    assert second.reply == b"two" and second.resumed and second.early_data
    # The server forgot the ticket once used: a full handshake, the data sent again after it.
    assert replayed.reply == b"three" and not replayed.resumed and not replayed.early_data
    accepts = [event.detail for event in server.trace.of_kind("accept")]
    assert accepts == ["", "0-RTT accepted", ""]


def test_round_trips_through_a_udp_link(ca):
    delay = 0.04
    with quic.serve(tls=ca) as server, link(server.address, transport="udp", delay=delay) as relay:
        full = quic.request(relay.address, b"full", ca=ca)
        early = quic.request(relay.address, b"early", ca=ca, session_ticket=full.ticket)
        first_datagram = relay.record[0]
    rtt = 2 * delay
    # Below one more round trip above: 1-RTT takes two, 0-RTT one, not more.
    assert 2 * rtt <= full.seconds < 3 * rtt - 0.01, full.seconds
    assert early.early_data and rtt <= early.seconds < 2 * rtt - 0.01, early.seconds
    assert first_datagram.direction == "to_server" and first_datagram.nbytes >= 1200  # RFC 9000, 14.1


@pytest.mark.parametrize("case, reason", [
    ("unknown CA", "unable to get local issuer certificate"),
    ("wrong name", "doesn't match"),
    ("expired", "no longer valid"),
])
def test_verification_fails_for_the_right_reason(case, reason, ca):
    with tls.CertificateAuthority("a stranger's CA") as stranger:
        trusted, name, cert = ca, "localhost", ca.server_cert
        if case == "unknown CA":
            trusted = stranger
        elif case == "wrong name":
            name = "other.example"
        else:
            cert = ca.issue(*tls.SERVER_NAMES, expired=True)
        with quic.serve(tls=cert) as server:
            with pytest.raises(quic.QuicError) as caught:
                quic.request(server.address, b"x", ca=trusted, server_name=name)
    assert reason in caught.value.reason
    assert str(caught.value).startswith(f"The QUIC connection to {server.host}:{server.port} failed: ")
    assert server.trace.of_kind("recv") == [], "no request reached the server"


def test_nobody_listening_fails_fast_with_a_sentence(ca):
    with quic.serve(tls=ca) as server:
        gone = server.address
    started = time.monotonic()
    with pytest.raises(quic.QuicError, match=r"Idle timeout .* check that a QUIC server"):
        quic.request(gone, b"anyone?", ca=ca, idle_timeout=0.3)
    assert time.monotonic() - started < 3
    assert quic_threads() == []


def test_bad_input_is_refused_in_a_sentence(ca, tmp_path):
    with pytest.raises(TypeError, match=r"needs tls= a CertificateAuthority or a Certificate .* got None"):
        quic.serve(tls=None)
    with pytest.raises(ValueError, match=r"not a loopback address"):
        quic.serve(tls=ca, host="8.8.8.8")
    with pytest.raises(ValueError, match=r"needs an idle timeout"):
        quic.serve(tls=ca, idle_timeout=None)
    with pytest.raises(TypeError, match=r"must be a running server or a \(host, port\) pair"):
        quic.request("127.0.0.1:4433", ca=ca)
    with pytest.raises(ValueError, match=r"Port 0 is not an address to connect to"):
        quic.request(("127.0.0.1", 0), ca=ca)
    with pytest.raises(ValueError, match=r"not a loopback address"):
        quic.request(("192.0.2.1", 4433), ca=ca)
    with pytest.raises(TypeError, match=r"must know which CA to trust"):
        quic.request(("127.0.0.1", 4433), ca=42)
    with pytest.raises(FileNotFoundError, match=r"The CA file '.*missing.pem' does not exist"):
        quic.request(("127.0.0.1", 4433), ca=str(tmp_path / "missing.pem"))
    with pytest.raises(TypeError, match=r"The request must be non-empty bytes"):
        quic.request(("127.0.0.1", 4433), "text", ca=ca)
    assert registry.running() == [ca] and quic_threads() == []


def test_stop_is_safe_twice_and_repr_says_so(ca):
    server = quic.serve(tls=ca)
    assert "running" in repr(server) and f":{server.port} " in repr(server)
    server.stop()
    server.stop()
    assert "stopped" in repr(server)
    assert quic_threads() == []


@pytest.mark.parametrize("value", [math.inf, math.nan, -1, 0, "5"])
@pytest.mark.parametrize("option", ["timeout", "idle_timeout"])
def test_request_refuses_a_time_that_could_never_end_in_a_sentence(ca, option, value):
    with pytest.raises(ValueError) as caught:
        quic.request(("127.0.0.1", 4433), ca=ca, **{option: value})
    message = str(caught.value)
    assert message.startswith(f"The {option} must be a ") and f"got {value!r}" in message, message
    assert f"for example {option}=" in message and message.endswith(".")
    assert quic_threads() == [], "refused before any loop started"


@pytest.mark.parametrize("value", [math.inf, math.nan, -2.0])
def test_serve_refuses_an_idle_timeout_that_could_never_end(ca, value):
    with pytest.raises(ValueError, match=rf"The idle_timeout must be a .*got {value!r}; for example idle_timeout=2.0"):
        quic.serve(tls=ca, idle_timeout=value)
    assert registry.running() == [ca] and quic_threads() == []


@pytest.mark.parametrize("ticket", ["junk", b"ticket", 42, {"ticket": 1}])
def test_a_ticket_that_is_not_one_is_refused_in_a_sentence(ca, ticket):
    with pytest.raises(TypeError) as caught:
        quic.request(("127.0.0.1", 4433), ca=ca, session_ticket=ticket)
    assert str(caught.value).startswith(f"The session_ticket must be the ticket of an earlier reply (reply.ticket), "
                                        f"or None, but got {ticket!r}")
    assert quic_threads() == []


def test_a_silent_peer_is_reported_with_the_timeout_that_was_given(ca):
    # A UDP socket that takes every datagram and answers none: a server that never replies.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as black_hole:
        black_hole.bind(("127.0.0.1", 0))
        started = time.monotonic()
        with pytest.raises(TimeoutError, match=r"^No QUIC reply from 127\.0\.0\.1:\d+ within 0\.4 s; check"):
            quic.request(black_hole.getsockname(), b"anyone?", ca=ca, timeout=0.4, idle_timeout=5)
        assert time.monotonic() - started < 2.0
        assert black_hole.recv(2048), "the request did go out"
    assert quic_threads() == []


def test_the_server_binds_its_own_udp_socket_and_reports_that_address(ca):
    with quic.serve(tls=ca) as server:
        assert isinstance(server, Endpoint) and server.transport == "quic"
        mine = [c.laddr for c in psutil.Process().net_connections(kind="udp")]
        assert (server.host, server.port) == server.address and server.address in mine
        assert server.trace.of_kind("listen")[0].peer == f"127.0.0.1:{server.port}"


def test_an_address_in_use_is_said_in_the_course_words(ca):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        with pytest.raises(AddressInUseError, match=r"The address 127.0.0.1 port \d+ is already in use .* port=0"):
            quic.serve(tls=ca, port=taken.getsockname()[1])
    assert registry.running() == [ca] and quic_threads() == []
