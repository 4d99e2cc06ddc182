"""Tests of chapter 02's UDP lookup experiment (sockcourse.kernel.udplookup), against the real kernel.

What is checked is the kernel's behaviour as run() records it: a connected
UDP socket never gets a stranger's datagram, its peer's datagram goes to it
rather than to an unconnected socket on the same port, and only a connected
sender (or one with IP_RECVERR) hears ECONNREFUSED once nobody takes its
datagrams. Then: the result is plain data, the run is quick and leaves no
socket open, and bad arguments get a sentence.
"""

from __future__ import annotations

import json
import os
import sys
import time

import pytest

from sockcourse.core.errors import ArgumentError, ArgumentTypeError
from sockcourse.kernel import udplookup

pytestmark = [pytest.mark.timeout(60),
              pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the experiment follows Linux's rules")]


@pytest.fixture(scope="module")
def plain():
    return udplookup.run()


def fate(result, number):
    (datagram,) = [d for d in result.datagrams if d.number == number]
    return datagram


def test_a_connected_socket_gets_only_its_peers_datagrams(plain):
    for d in plain.datagrams:
        if d.received_by == "connected":
            assert d.sender == "peer", d
        if d.sender != "peer":
            assert d.received_by != "connected", f"the connected socket got a stranger's datagram: {d}"
    # While the unconnected socket was open, the strangers' datagrams went there ...
    assert [fate(plain, n).received_by for n in (2, 3)] == ["unconnected", "unconnected"]
    # ... and once it was closed, nobody took them, although the connected socket was still on the port.
    for number in (4, 5):
        d = fate(plain, number)
        assert d.open == ("connected",) and d.received_by is None, d


def test_the_more_specific_socket_wins(plain):
    first = fate(plain, 1)
    assert first.sender == "peer" and set(first.open) == {"connected", "unconnected"}
    assert first.received_by == "connected", "both sockets matched; the connected one should have won"
    assert fate(plain, 6).received_by == "connected"


def test_only_the_connected_sender_hears_econnrefused(plain):
    assert fate(plain, 4).sender == "stranger 1" and fate(plain, 4).sender_saw == "ECONNREFUSED"
    assert fate(plain, 5).sender == "stranger 2" and fate(plain, 5).sender_saw is None
    assert all(d.sender_saw is None for d in plain.datagrams if d.received_by), "delivered, yet an error came"
    # The kernel did send an ICMP error for both dropped datagrams (its own count says so).
    if fate(plain, 4).icmp_sent is not None:
        assert fate(plain, 4).icmp_sent >= 1 and fate(plain, 5).icmp_sent >= 1


def test_ip_recverr_lets_an_unconnected_sender_hear_it():
    result = udplookup.run(recverr=True)
    d = fate(result, 5)
    assert d.sender == "stranger 2" and d.received_by is None
    assert d.sender_saw == "ECONNREFUSED"
    assert d.icmp_reported == (3, 3), "ICMP destination unreachable (type 3), port unreachable (code 3)"
    assert result.senders["stranger 2"] == {"connected": False, "recverr": True}


def test_the_result_is_plain_data(plain):
    data = plain.as_dict()
    assert json.loads(json.dumps(data)) == data
    assert 1 <= data["port"] <= 65_535 and data["receivers"] == {"connected": "peer", "unconnected": None}
    assert [row["number"] for row in data["datagrams"]] == [1, 2, 3, 4, 5, 6]
    lines = plain.summary()
    assert lines[3] == "4. from stranger 1: no socket got it; the sender's recv() raised ECONNREFUSED"
    assert lines[0] == "1. from peer: the connected socket got it; the sender heard nothing"


def test_quick_and_leaves_no_socket_open():
    before = set(os.listdir("/proc/self/fd"))
    started = time.monotonic()
    udplookup.run(wait=0.05)
    assert time.monotonic() - started < 1.0
    assert set(os.listdir("/proc/self/fd")) <= before


@pytest.mark.parametrize("kwargs, kind, words", [
    ({"wait": 0}, ArgumentError, ["wait", "0", "0.1"]),
    ({"wait": -1}, ArgumentError, ["-1"]),
    ({"wait": 10}, ArgumentError, ["10", str(udplookup.MAX_WAIT)]),
    ({"wait": "fast"}, ArgumentError, ["'fast'"]),
    ({"wait": float("nan")}, ArgumentError, ["nan"]),
    ({"recverr": "yes"}, ArgumentTypeError, ["'yes'", "True or False"]),
])
def test_bad_arguments_get_a_sentence(kwargs, kind, words):
    with pytest.raises(kind) as caught:
        udplookup.run(**kwargs)
    message = str(caught.value)
    assert message.endswith(".") and all(word in message for word in words), message


def test_arguments_are_keywords():
    with pytest.raises(TypeError):
        udplookup.run(0.1)  # noqa - on purpose: a bare number would be unclear
