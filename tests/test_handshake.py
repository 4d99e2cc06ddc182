"""Handshake cost: the link's emulation of TCP's handshake, and measure() across a delayed link.

Times are real and the machine may be busy, so each check allows a margin
above the protocol's round trips (up to one round trip less 10 ms), never
below: a handshake cannot finish faster than its round trips.
"""

from __future__ import annotations

import socket
import time

import pytest

from sockcourse import handlers, handshake, tls
from sockcourse.link import link
from sockcourse.servers.threaded import serve

pytestmark = pytest.mark.timeout(60)

DELAY = 0.05  # 100 ms round trips: the margin below stays under one round trip
RTT = 2 * DELAY

def within(seconds: float, round_trips: int) -> bool:
    """At least that many round trips, and clearly short of one more (a busy machine adds some)."""
    return round_trips * RTT <= seconds < (round_trips + 1) * RTT - 0.01


def first_reply_after(address, request=b"ping") -> float:
    started = time.perf_counter()
    with socket.create_connection(address, timeout=5) as client:
        if request:
            client.sendall(request)
        assert client.recv(1)
        return time.perf_counter() - started


def test_without_emulation_the_tcp_handshake_costs_nothing_on_the_link():
    with serve(handlers.echo) as server, link(server.address, delay=DELAY) as relay:
        seconds = first_reply_after(relay.address)
    assert within(seconds, 1), seconds


def test_emulation_adds_exactly_one_round_trip_for_a_client_that_speaks_first():
    with serve(handlers.echo) as server, link(server.address, delay=DELAY, handshake=True) as relay:
        seconds = first_reply_after(relay.address)
        assert relay.handshake
    assert within(seconds, 2), seconds


def test_emulation_delays_a_server_that_speaks_first_as_a_real_handshake_would():
    def banner(conn):
        conn.sendall(b"220 hello\r\n")  # as SMTP servers do, before the client says anything
        conn.recv(1)

    # Real TCP: SYN, SYN+ACK (one round trip), the last ACK reaches the server
    # half a round trip later, and the banner takes the other half back.
    with serve(banner) as server, link(server.address, delay=DELAY, handshake=True) as relay:
        seconds = first_reply_after(relay.address, request=b"")
    assert within(seconds, 2), seconds


def test_stop_does_not_wait_for_a_connection_held_in_the_emulated_handshake():
    with serve(handlers.echo) as server:
        relay = link(server.address, delay=2.0, handshake=True)
        try:
            with socket.create_connection(relay.address, timeout=5) as client:
                client.sendall(b"held for four seconds")
                started = time.monotonic()
                relay.stop()
                assert time.monotonic() - started < 1.5
                client.settimeout(2)
                # The link ends the connection: FIN, or RST when stop() catches the
                # held bytes still unread in the link's socket (close() then resets).
                try:
                    assert client.recv(100) == b""
                except ConnectionResetError:
                    pass
        finally:
            relay.stop()


def test_handshake_option_is_checked():
    with serve(handlers.echo) as server:
        with pytest.raises(TypeError, match=r"handshake must be True or False, but got 'yes'"):
            link(server.address, handshake="yes")
    with serve(handlers.echo, transport="udp") as server:
        with pytest.raises(ValueError, match=r"UDP link has none to emulate"):
            link(server.address, transport="udp", handshake=True)


def test_measure_counts_the_round_trips_each_protocol_needs():
    # 50 ms each way, as in the notebook: a busy machine's extra milliseconds
    # stay well below half a round trip, and the round trips come from the
    # fastest of three runs, so a run that a stall (a lost wake-up, a probe
    # timeout, a CPU busy elsewhere) made longer does not count.
    with tls.CertificateAuthority() as ca:
        costs = handshake.measure(delay=0.05, repeats=3, ca=ca)
    assert costs.protocols == list(handshake.PROTOCOLS)
    for row in costs.rows():
        expected = handshake.EXPECTED_ROUND_TRIPS[row["protocol"]]
        assert row["round_trips"] == expected, costs.table()
        # Never faster than the protocol's round trips, whatever the machine's load.
        assert row["ms"] >= expected * costs.rtt * 1000 * 0.97, costs.table()
    assert costs.detail("TCP+TLS 1.2").startswith("TLSv1.2, ")
    assert costs.detail("TCP+TLS 1.3").startswith("TLSv1.3, ")
    assert costs.detail("QUIC 0-RTT").endswith("0-RTT accepted")
    for protocol in handshake.PROTOCOLS:
        start, hops = costs.ladders[protocol]
        assert hops and len({hop.conn for hop in hops}) == 1, "one connection's hops per protocol"
        assert all(hop.t >= start for hop in hops)
    lines = costs.table().splitlines()
    assert lines[0].split()[0] == "protocol" and len(lines) == 1 + len(handshake.PROTOCOLS)
    assert " ms " in lines[1]


def test_measure_a_subset_with_its_own_authority():
    costs = handshake.measure(delay=0.01, repeats=2, protocols=["TCP", "QUIC 0-RTT"])
    assert costs.protocols == ["TCP", "QUIC 0-RTT"]
    assert len(costs.of("TCP")) == 2
    # Never fewer round trips than the protocol needs; 10 ms each way leaves a busy machine little room above.
    assert costs.median("TCP") >= 2 * costs.rtt * 0.97 and costs.median("QUIC 0-RTT") >= costs.rtt * 0.97
    with pytest.raises(KeyError, match="No measurement of 'QUIC'"):
        costs.of("QUIC")


def test_claim_and_bad_input():
    assert handshake.claim_for("TCP+TLS 1.2") == handshake.CLAIM_MS["TCP+TLS"]
    assert handshake.claim_for("QUIC 0-RTT") == (0, 100)
    assert [handshake.family(p) for p in handshake.PROTOCOLS] == ["TCP", "TCP+TLS", "TCP+TLS", "QUIC", "QUIC"]
    with pytest.raises(ValueError, match=r"The delay must be a positive number of seconds of at most 0.5, but got 0;"):
        handshake.measure(delay=0)
    with pytest.raises(ValueError, match=r"at most 0.5, but got 5; for example delay=0.05"):
        handshake.measure(delay=5)
    with pytest.raises(ValueError, match=r"The delay must be a finite number of seconds, but got nan"):
        handshake.measure(delay=float("nan"))
    with pytest.raises(ValueError, match=r"repeats must be a whole number from 1 to 20, but got 0"):
        handshake.measure(repeats=0)
    with pytest.raises(ValueError, match=r"Unknown protocol 'HTTP/3'; expected some of 'TCP', "):
        handshake.measure(protocols=["TCP", "HTTP/3"])
    with pytest.raises(ValueError, match=r"^No protocol given \(protocols=\(\)\); name at least one of 'TCP'"):
        handshake.measure(protocols=())
    with pytest.raises(TypeError, match=r"protocols must be a list of protocol names, but got 5"):
        handshake.measure(protocols=5)
    with pytest.raises(TypeError, match=r"ca must be a sockcourse.tls.CertificateAuthority"):
        handshake.measure(delay=0.01, ca="ca.pem")


def test_the_costs_carry_the_claims_they_are_drawn_beside():
    costs = handshake.HandshakeCosts(0.05)
    assert costs.claims == handshake.CLAIM_MS and costs.claims is not handshake.CLAIM_MS
    costs.claims["TCP"] = (1, 2)  # each measurement its own copy
    assert handshake.HandshakeCosts(0.05).claims["TCP"] == (100, 100)
