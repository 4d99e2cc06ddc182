"""Tests of chapter 01's connection pictures (sockcourse.viz.connections), drawn from the real kernel's rows.

Each picture is drawn from what kernel.states() returned for real sockets on
loopback, saved as a PNG with the Agg backend, and checked by what was drawn
(texts, patches, their gids) against the rows and bytes it was given.
"""

from __future__ import annotations

import dataclasses
import socket
import struct
from contextlib import ExitStack

import matplotlib
import matplotlib.pyplot as plt
import pytest

from sockcourse import kernel
from sockcourse.core.errors import ArgumentError, ArgumentTypeError
from sockcourse.viz import connections
from sockcourse.viz.connections import MAX_CONNECTIONS, half_close, shared_port

pytestmark = pytest.mark.timeout(60)

RESET_ON_CLOSE = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() sends RST and leaves no TIME_WAIT


@pytest.fixture(scope="module")
def shared():
    """kernel.states(listener) with four real connections to one listening socket, all accepted."""
    with ExitStack() as stack:
        listener = stack.enter_context(socket.create_server(("127.0.0.1", 0)))
        for _ in range(4):
            client = stack.enter_context(socket.create_connection(listener.getsockname(), timeout=5))
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, RESET_ON_CLOSE)
            stack.enter_context(listener.accept()[0])
        yield kernel.states(listener, until="ESTABLISHED")


def _half_closed(shutter: str):
    """A real half-close: (states, to_server, to_client), after `shutter` ("client" or "server") shut its side."""
    with ExitStack() as stack:
        listener = stack.enter_context(socket.create_server(("127.0.0.1", 0)))
        client = stack.enter_context(socket.create_connection(listener.getsockname(), timeout=5))
        conn = stack.enter_context(listener.accept()[0])
        conn.settimeout(5)
        for end in (client, conn):
            end.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, RESET_ON_CLOSE)
        client.sendall(b"TIME?\n")
        to_server = [conn.recv(1024)]
        conn.sendall(b"noon\n")
        to_client = [client.recv(1024)]
        sender, reader, got = (client, conn, to_server) if shutter == "client" else (conn, client, to_client)
        sender.shutdown(socket.SHUT_WR)
        got.append(reader.recv(1024))
        states = kernel.states(listener, client, until={"FIN_WAIT2", "CLOSE_WAIT"})
        # The open direction still carries bytes after the shutdown.
        reader.sendall(b"Goodbye!\n")
        (to_client if shutter == "client" else to_server).append(sender.recv(1024))
    return states, to_server, to_client


@pytest.fixture(scope="module")
def client_shut():
    return _half_closed("client")


@pytest.fixture(scope="module")
def server_shut():
    return _half_closed("server")


def _texts(ax, prefix):
    return {t.get_gid(): t.get_text() for t in ax.texts if (t.get_gid() or "").startswith(prefix)}


def _patches(ax, prefix):
    return [p for p in ax.patches if (p.get_gid() or "").startswith(prefix)]


def _save(ax, tmp_path, name):
    assert matplotlib.get_backend().lower() == "agg"
    ax.figure.savefig(tmp_path / name, dpi=80)
    assert (tmp_path / name).stat().st_size > 10_000
    plt.close(ax.figure)


# -- shared_port ----------------------------------------------------------------------------
def test_every_server_end_hangs_off_the_one_listener_with_its_own_four_numbers(shared, tmp_path):
    (listener,) = [row for row in shared if row.state == "LISTEN"]
    servers = [row for row in shared if row.role == "server"]
    assert len(servers) == 4
    ax = shared_port(shared)
    assert _texts(ax, "shared:listener-local") == {"shared:listener-local": listener.local}
    locals_ = _texts(ax, "shared:local:")
    remotes = _texts(ax, "shared:remote:")
    assert [locals_[f"shared:local:{i}"] for i in range(4)] == [f"local  {row.local}" for row in servers]
    assert [remotes[f"shared:remote:{i}"] for i in range(4)] == [f"remote {row.remote}" for row in servers]
    assert len(_patches(ax, "shared:fan:")) == 4
    port = listener.local.rsplit(":", 1)[1]
    assert f"({port})" in ax.get_title() and "4 connections" in ax.get_title()
    note = _texts(ax, "shared:note")["shared:note"]
    for row in servers:
        assert row.remote.rsplit(":", 1)[1] in note.replace("\n", " ")
    _save(ax, tmp_path, "shared.png")


def test_each_client_socket_is_the_one_with_the_addresses_swapped(shared):
    ax = shared_port(shared)
    try:
        remotes = _texts(ax, "shared:remote:")
        client_locals = _texts(ax, "shared:client-local:")
        for i in range(4):
            assert remotes[f"shared:remote:{i}"].split()[-1] == client_locals[f"shared:client-local:{i}"].split()[-1]
        states = _texts(ax, "shared:client-state:")
        assert set(states.values()) == {"ESTABLISHED"}
    finally:
        plt.close(ax.figure)


def test_the_labels_follow_the_data(shared):
    """Change one connection's client port in the rows: the picture says the new port."""
    server = next(row for row in shared if row.role == "server")
    client = next(row for row in shared if row.role == "client" and row.local == server.remote)
    host = server.remote.rsplit(":", 1)[0]
    moved = [dataclasses.replace(row, remote=f"{host}:1234") if row == server else
             dataclasses.replace(row, local=f"{host}:1234") if row == client else row for row in shared]
    ax = shared_port(moved)
    try:
        assert "remote 127.0.0.1:1234" in _texts(ax, "shared:remote:").values()
        assert "1234" in _texts(ax, "shared:note")["shared:note"]
        assert len(_patches(ax, "shared:fan:")) == 4
    finally:
        plt.close(ax.figure)


def test_a_client_without_a_server_end_gets_a_dashed_box():
    """Real SYN_SENT clients of a full accept queue have no server end; the picture says so."""
    with ExitStack() as stack:
        never = stack.enter_context(socket.socket())
        never.bind(("127.0.0.1", 0))
        never.listen(0)
        for _ in range(3):
            c = stack.enter_context(socket.socket())
            c.setblocking(False)
            c.connect_ex(never.getsockname())
        table = kernel.states(never, until="SYN_SENT")
    waiting = table.of_role("client").count("SYN_SENT")
    assert waiting >= 1, table
    ax = shared_port(table)
    try:
        assert len(_texts(ax, "shared:missing:")) == waiting
        dashed = [p for p in _patches(ax, "shared:server:") if p.get_linestyle() == "--"]
        assert len(dashed) == waiting
    finally:
        plt.close(ax.figure)


def test_more_connections_than_fit_are_counted_in_a_note(shared):
    (listener,) = [row for row in shared if row.state == "LISTEN"]
    host, port = listener.local.rsplit(":", 1)
    Row = type(listener)
    extra = [Row("server", listener.local, f"{host}:{2000 + i}", "ESTABLISHED") for i in range(MAX_CONNECTIONS + 3)]
    ax = shared_port([listener, *extra])
    try:
        assert len(_patches(ax, "shared:fan:")) == MAX_CONNECTIONS
        assert "3 more connections on this port not drawn" in _texts(ax, "shared:note")["shared:note"]
        assert f"{MAX_CONNECTIONS + 3} connections" in ax.get_title()
    finally:
        plt.close(ax.figure)


def test_bad_tables_get_a_sentence(shared):
    (listener,) = [row for row in shared if row.state == "LISTEN"]
    without_listener = [row for row in shared if row.state != "LISTEN"]
    with pytest.raises(ArgumentError, match="no LISTEN row"):
        shared_port(without_listener)
    with pytest.raises(ArgumentError, match="no connection to it"):
        shared_port([listener])
    other = dataclasses.replace(listener, local=listener.local.rsplit(":", 1)[0] + ":1")
    with pytest.raises(ArgumentError, match="on 2 ports"):
        shared_port([*shared, other])
    with pytest.raises(ArgumentTypeError, match="a list of rows"):
        shared_port("LISTEN 127.0.0.1:5000")
    with pytest.raises(ArgumentTypeError, match="text fields role, local, remote and state"):
        shared_port([*shared, ("server", "127.0.0.1:1", "127.0.0.1:2", "ESTABLISHED")])
    with pytest.raises(ArgumentError, match="'OPEN' .* is not one the kernel reports"):
        shared_port([dataclasses.replace(row, state="OPEN") for row in shared])
    with pytest.raises(ArgumentError, match="no port after a colon"):
        shared_port([dataclasses.replace(listener, local="127.0.0.1")])
    plt.close("all")


# -- half_close -----------------------------------------------------------------------------
def test_the_client_shut_its_pipe_and_the_server_still_answers(client_shut, tmp_path):
    states, to_server, to_client = client_shut
    assert to_server == [b"TIME?\n", b""] and to_client == [b"noon\n", b"Goodbye!\n"]
    ax = half_close(states, to_server=to_server, to_client=to_client)
    client = next(row for row in states if row.role == "client")
    server = next(row for row in states if row.role == "server")
    assert _texts(ax, "half:state:") == {"half:state:client": client.state, "half:state:server": server.state}
    assert (client.state, server.state) == ("FIN_WAIT2", "CLOSE_WAIT")
    assert _texts(ax, "half:address:") == {"half:address:client": client.local, "half:address:server": server.local}
    assert list(_texts(ax, "half:bytes:to_server:").values()) == [repr(b"TIME?\n")]
    assert list(_texts(ax, "half:bytes:to_client:").values()) == [repr(b"noon\n"), repr(b"Goodbye!\n")]
    assert _patches(ax, "half:fin:to_server") and not _patches(ax, "half:fin:to_client")
    assert _patches(ax, "half:open:to_client") and not _patches(ax, "half:open:to_server")
    labels = _texts(ax, "half:label:")
    assert labels["half:label:to_server"] == "client → server: 6 bytes, then the FIN: shut"
    assert labels["half:label:to_client"] == "server → client: 14 bytes so far: still open"
    assert "b''" in _texts(ax, "half:fin-label:")["half:fin-label:to_server"]
    assert "client shut" in ax.get_title()
    _save(ax, tmp_path, "half.png")


def test_when_the_server_shuts_the_other_pipe_is_capped(server_shut):
    states, to_server, to_client = server_shut
    ax = half_close(states, to_server=to_server, to_client=to_client)
    try:
        assert _texts(ax, "half:state:") == {"half:state:client": "CLOSE_WAIT", "half:state:server": "FIN_WAIT2"}
        assert _patches(ax, "half:fin:to_client") and not _patches(ax, "half:fin:to_server")
        assert list(_texts(ax, "half:bytes:to_server:").values()) == [repr(b"TIME?\n"), repr(b"Goodbye!\n")]
        assert "server shut" in ax.get_title()
    finally:
        plt.close(ax.figure)


def test_a_fin_not_yet_read_is_drawn_without_its_empty_recv(client_shut):
    states, to_server, to_client = client_shut
    ax = half_close(states, to_server=to_server[:-1], to_client=to_client)
    try:
        assert _texts(ax, "half:fin-label:")["half:fin-label:to_server"] == "FIN"
    finally:
        plt.close(ax.figure)


def test_long_bytes_are_shortened_to_fit_the_pipe(client_shut):
    states, to_server, to_client = client_shut
    ax = half_close(states, to_server=to_server, to_client=[b"x" * 500, b"y" * 500])
    try:
        shown = list(_texts(ax, "half:bytes:to_client:").values())
        assert len(shown) == 2 and all(text.endswith("…") for text in shown)
        assert _texts(ax, "half:size:to_client:") == {"half:size:to_client:0": "500 B", "half:size:to_client:1": "500 B"}
    finally:
        plt.close(ax.figure)


def test_not_a_half_close_gets_a_sentence(client_shut):
    states, to_server, to_client = client_shut
    established = [dataclasses.replace(row, state="ESTABLISHED") if row.role != "listening" else row for row in states]
    with pytest.raises(ArgumentError, match="Neither side has shut"):
        half_close(established, to_server=[b"a"], to_client=[b"b"])
    both = [dataclasses.replace(row, state="FIN_WAIT2") if row.role != "listening" else row for row in states]
    with pytest.raises(ArgumentError, match="Both sides have sent a FIN"):
        half_close(both, to_server=to_server, to_client=to_client)
    with pytest.raises(ArgumentError, match="swapped"):
        half_close(states, to_server=to_client, to_client=to_server)
    with pytest.raises(ArgumentError, match="data after b''"):
        half_close(states, to_server=[b"", b"late"], to_client=to_client)
    with pytest.raises(ArgumentTypeError, match="list of what each recv"):
        half_close(states, to_server=b"TIME?\n", to_client=to_client)
    with pytest.raises(ArgumentTypeError, match="must be bytes"):
        half_close(states, to_server=["TIME?"], to_client=to_client)
    only_listener = [row for row in states if row.role == "listening"]
    with pytest.raises(ArgumentError, match="no connection with both ends"):
        half_close(only_listener, to_server=to_server, to_client=to_client)
    plt.close("all")


def test_two_connections_are_refused(client_shut, server_shut):
    first, second = client_shut[0], server_shut[0]
    with pytest.raises(ArgumentError, match="2 connections"):
        half_close([*first, *second], to_server=client_shut[1], to_client=client_shut[2])


def test_draws_on_the_axes_it_is_given_and_leaves_rcparams_alone(shared, client_shut):
    before = dict(matplotlib.rcParams)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 9))
    try:
        assert shared_port(shared, ax=top, title="mine") is top and top.get_title() == "mine"
        states, to_server, to_client = client_shut
        assert half_close(states, to_server=to_server, to_client=to_client, ax=bottom) is bottom
        assert dict(matplotlib.rcParams) == before
    finally:
        plt.close(fig)


def test_the_module_opens_no_socket():
    assert "socket" not in vars(connections)


def test_both_pictures_are_in_the_viz_package():
    from sockcourse import viz
    for name in ("shared_port", "half_close"):
        assert getattr(viz, name) is getattr(connections, name) and name in viz.__all__
