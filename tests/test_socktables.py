"""Tests of sockcourse.socktables: the tables must agree with what the socket module and the kernel really do."""

from __future__ import annotations

import socket

import pytest

from sockcourse import socktables

pytestmark = pytest.mark.timeout(30)


@pytest.mark.parametrize("build, names", [
    (socktables.families, ["AF_INET", "AF_INET6", "AF_UNIX", "AF_CAN", "AF_BLUETOOTH"]),
    (socktables.types, ["SOCK_STREAM", "SOCK_DGRAM", "SOCK_RAW", "SOCK_SEQPACKET"]),
    (socktables.protocols, ["IPPROTO_TCP", "IPPROTO_UDP", "IPPROTO_SCTP"]),
])
def test_every_row_matches_the_socket_module(build, names):
    table = build()
    assert table.names() == names
    for row in table:
        if hasattr(socket, row.name):
            assert row.value == getattr(socket, row.name), row
            assert row.tried.startswith("socket("), row
            assert row.result == socktables.WORKS or row.result.startswith("no ("), row
        else:
            assert row.value is None and row.result == socktables.NOT_HERE and row.name in row.detail, row


def test_what_always_works_is_reported_as_working():
    # Every machine this course runs on makes IPv4 TCP and UDP sockets.
    for table, name in [(socktables.families(), "AF_INET"), (socktables.types(), "SOCK_STREAM"),
                        (socktables.types(), "SOCK_DGRAM"), (socktables.protocols(), "IPPROTO_UDP")]:
        row = table.row(name)
        assert row.works and row.detail == "", row


def test_a_no_is_what_the_kernel_says():
    """Each "no" in the tables is the error socket() raises when we call it ourselves."""
    rows = [row for build in (socktables.families, socktables.types, socktables.protocols) for row in build()]
    for row in rows:
        if not row.available or row.works:
            continue
        family, kind, *proto = (part.strip() for part in row.tried[len("socket("):-1].split(","))
        numbers = [getattr(socket, name) for name in [family, kind, *proto]]
        with pytest.raises(OSError) as caught:
            socket.socket(*numbers).close()
        assert caught.value.strerror in row.detail, (row, caught.value)


def test_try_socket_opens_nothing_that_stays_open():
    import os
    before = len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else None
    assert socktables.try_socket("AF_INET", "SOCK_DGRAM") == socktables.WORKS
    assert socktables.try_socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP) == socktables.WORKS
    # UDP with the TCP protocol is a real kernel refusal, on every system.
    refused = socktables.try_socket("AF_INET", "SOCK_DGRAM", "IPPROTO_TCP")
    assert refused.startswith("no (") and ":" in refused
    if before is not None:
        assert len(os.listdir("/proc/self/fd")) == before


def test_table_text_has_a_header_and_one_line_a_row():
    table = socktables.protocols()
    lines = repr(table).splitlines()
    assert lines[0].split() == ["name", "value", "what", "it", "is", "tried", "as", "works", "here"]
    assert [line.split()[0] for line in lines[1:4]] == table.names()
    assert len(lines[4:]) == sum(1 for row in table if row.detail)
    with pytest.raises(KeyError, match="IPPROTO_TCP"):
        table.row("IPPROTO_XYZ")


@pytest.mark.parametrize("bad, kind, words", [
    ("AF_INTE", ValueError, ["'AF_INTE'", "did you mean 'AF_INET'"]),
    ("af_inet", ValueError, ["'af_inet'", "upper case"]),
    (3.5, TypeError, ["3.5", "float", "AF_INET"]),
    (True, TypeError, ["True", "AF_INET"]),
])
def test_bad_names_get_a_clear_sentence(bad, kind, words):
    with pytest.raises(kind) as caught:
        socktables.try_socket(bad, "SOCK_DGRAM")
    message = str(caught.value)
    assert message.endswith(".") and all(word in message for word in words), message


def test_a_name_this_python_lacks_is_reported_not_raised(monkeypatch):
    monkeypatch.delattr(socket, "AF_CAN", raising=False)
    row = socktables.families().row("AF_CAN")
    assert row.value is None and row.result == socktables.NOT_HERE and not row.works
    assert socktables.try_socket("AF_CAN", "SOCK_RAW", "CAN_RAW").startswith(socktables.NOT_HERE)
