"""Tests of sockcourse.kernel against the real kernel: the TCP states of a connection's life.

The server's handler waits on an Event before it closes, so the test decides
when the server end leaves CLOSE_WAIT; every wait for a state has a deadline.

A port number is reused by later servers while TIME_WAIT sockets of an
earlier server's connections (60 s on Linux) still name it, and the kernel
view, which filters by port, rightly shows them too. The tests therefore
look at the rows of the sockets they made, and ignore other TIME_WAIT rows.
"""

from __future__ import annotations

import socket
import sys
import threading
import time

import psutil
import pytest

from sockcourse import handlers, kernel, serve
from sockcourse.kernel import diag, view as kernel_states
from conftest import ipv6_loopback_available, recv_exactly, wait_for

pytestmark = [
    pytest.mark.timeout(30),
    pytest.mark.skipif(not sys.platform.startswith("linux"),
                       reason="the kernel's view is tested where /proc/net/tcp exists (Linux)"),
]


def port_of(address: str) -> int:
    return int(address.rsplit(":", 1)[1])


def name_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def ours(table, *names: str) -> kernel.StateTable:
    """The rows of the listener and of connections whose client end is one of `names`."""
    return kernel.StateTable(r for r in table if r.role == "listening" or r.local in names
                             or r.remote in names)


class HeldEcho:
    """An echo handler that, after the client's FIN, keeps its socket open until released."""

    def __init__(self):
        self.release = threading.Event()
        self.__name__ = "held_echo"

    def __call__(self, conn):
        while data := conn.recv(1024):
            conn.sendall(data)
        self.release.wait(10)  # bounded: a failing test must not leave this thread behind


def assert_proc_agrees_with_psutil(port: int, *names: str) -> None:
    """The raw /proc lines, decoded, say what psutil says about the same sockets.

    Only the listener on `port` and the connections of `names` are compared: an
    old TIME_WAIT row may expire between the two reads.
    """
    def wanted(local, remote):
        if port not in (port_of(local), port_of(remote)):
            return False  # our client's port may also name an old connection elsewhere
        return port_of(remote) == 0 or local in names or remote in names

    decoded = {(row["local"], row["remote"], row["state"])
               for row in map(kernel.decode_proc_line, kernel.proc_net_tcp(port))}
    decoded = {row for row in decoded if wanted(row[0], row[1])}
    seen = set()
    for conn in psutil.net_connections(kind="tcp"):
        local = kernel_states._addr(conn.laddr)
        # /proc writes "no remote end" as the all-zero address and port 0.
        remote = kernel_states._addr(conn.raddr) if conn.raddr else ("[::]:0" if local.startswith("[") else "0.0.0.0:0")
        if wanted(local, remote):
            seen.add((local, remote, conn.status))
    assert len(decoded) == 1 + 2 * len(names)  # the listener, and both ends of each connection
    assert decoded == seen


def test_states_through_the_life_of_a_connection():
    handler = HeldEcho()
    with socket.socket() as decoy_listener, serve(handler) as server:
        # An unrelated connection in this same process, which must not show up.
        decoy_listener.bind(("127.0.0.1", 0))
        decoy_listener.listen(1)
        decoy = socket.create_connection(decoy_listener.getsockname(), timeout=5)
        try:
            table = kernel.states(server, until="LISTEN")
            assert [(r.role, r.state) for r in table if r.state != "TIME_WAIT"] == [("listening", "LISTEN")]
            assert table[0].local == f"127.0.0.1:{server.port}" and table[0].remote == ""

            client = socket.create_connection(server.address, timeout=5)
            me = name_of(client)
            with client:
                client.sendall(b"hi")
                assert recv_exactly(client, 2) == b"hi"
                table = kernel.states(server, until="ESTABLISHED")
                mine = ours(table, me)
                assert mine.of_role("listening") == ["LISTEN"]
                assert mine.of_role("client") == ["ESTABLISHED"]
                assert mine.of_role("server") == ["ESTABLISHED"]
                # Nothing else: not the decoy, not Jupyter's sockets, only old TIME_WAITs.
                assert len(mine) == 3
                assert all(r.state == "TIME_WAIT" for r in table if r not in mine)
                assert all(server.port in (port_of(r.local), port_of(r.remote or ":0")) for r in table)
                assert name_of(decoy) not in {r.local for r in table} | {r.remote for r in table}
                (client_row,) = [r for r in mine if r.role == "client"]
                assert client_row.remote == f"127.0.0.1:{server.port}"
                assert_proc_agrees_with_psutil(server.port, me)

                client.shutdown(socket.SHUT_WR)  # our FIN goes; the handler sees b"" and waits
                table = ours(kernel.states(server, until={"FIN_WAIT2", "CLOSE_WAIT"}), me)
                assert table.of_role("client") == ["FIN_WAIT2"]
                assert table.of_role("server") == ["CLOSE_WAIT"]
                assert_proc_agrees_with_psutil(server.port, me)

                handler.release.set()  # now the server closes: its FIN ends our FIN_WAIT2
                wait_for(lambda: server.trace.of_kind("close"), 2.0, "the server to close its end")
            # Both ends closed: the one that closed first (us) waits in TIME_WAIT.
            table = wait_for(lambda: _settled(server, me), 2.0, "the server end to be gone")
            assert table.of_role("client") == ["TIME_WAIT"]
            assert table.of_role("listening") == ["LISTEN"]
        finally:
            handler.release.set()
            decoy.close()
    # After stop nothing listens; only our TIME_WAIT remains (for 2 MSL).
    table = kernel.states(server)
    assert table.of_role("listening") == [] and ours(table, me).of_role("client") == ["TIME_WAIT"]


def _settled(server, me):
    table = ours(kernel.states(server, until="TIME_WAIT"), me)
    return table if table.of_role("server") == [] and "TIME_WAIT" in table.states() else None


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
def test_proc_net_tcp_lines_decode_to_what_psutil_says(host):
    if host == "::1" and not ipv6_loopback_available():
        pytest.skip("IPv6 loopback (::1) cannot be bound on this machine")
    handler = HeldEcho()
    with serve(handler, host=host) as server:
        try:
            with socket.create_connection((host, server.port), timeout=5) as client:
                client.sendall(b"x")
                assert recv_exactly(client, 1) == b"x"
                me = name_of(client)
                kernel.states(server, until="ESTABLISHED")
                decoded = [kernel.decode_proc_line(line) for line in kernel.proc_net_tcp(server)]
                mine = [d for d in decoded if d["state"] == "LISTEN" or me in (d["local"], d["remote"])]
                assert sorted(d["state"] for d in mine) == ["ESTABLISHED", "ESTABLISHED", "LISTEN"]
                assert all(d["state"] == "TIME_WAIT" for d in decoded if d not in mine)
                (client_end,) = [d for d in mine if d["local"] == me]
                assert client_end["remote"] == kernel_states._addr((host, server.port))
                assert_proc_agrees_with_psutil(server.port, me)
        finally:
            handler.release.set()


def test_syn_sent_when_a_listener_never_accepts_and_its_queue_is_full():
    """With backlog 0, Linux queues one finished handshake; later SYNs are dropped unanswered."""
    clients = []
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        address = listener.getsockname()
        try:
            first = socket.create_connection(address, timeout=5)
            clients.append(first)
            table = ours(kernel.states(listener, until="ESTABLISHED"), name_of(first))
            assert table.of_role("client") == ["ESTABLISHED"]
            for _ in range(2):
                late = socket.socket()
                clients.append(late)
                late.setblocking(False)
                # connect_ex: a non-blocking connect reports "in progress" instead of waiting.
                assert late.connect_ex(address) in (0, 115)  # EINPROGRESS on Linux
            table = kernel.states(listener, until="SYN_SENT")
            table = ours(table, *map(name_of, clients))
            assert table.of_role("listening") == ["LISTEN"]
            assert table.of_role("client").count("ESTABLISHED") >= 1
            assert "SYN_SENT" in table.of_role("client")
            # Nobody accepted: the finished handshake waits in the kernel's queue.
            assert table.of_role("server").count("ESTABLISHED") >= 1
        finally:
            for sock in clients:
                sock.close()


def test_states_refuses_what_it_cannot_read():
    with pytest.raises(ValueError) as info:
        kernel.states()
    assert "kernel.states(server)" in str(info.value)
    for bad in ("8080", True, 3.5):
        with pytest.raises(TypeError) as info:
            kernel.states(bad)
        message = str(info.value)
        assert repr(bad) in message and message.endswith(".") and "for example" in message


def test_a_named_socket_shows_only_its_own_connection_even_when_its_port_is_shared():
    # Two clients share one local port (SO_REUSEADDR lets them, since their peers
    # differ); asking about one client and its server must not show the other.
    with serve(handlers.echo) as first, serve(handlers.echo) as second:
        one = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        two = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        with one, two:
            for client in (one, two):
                client.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                client.settimeout(5)
            one.bind(("127.0.0.1", 0))
            two.bind(one.getsockname())
            one.connect(first.address)
            two.connect(second.address)
            table = kernel.states(first, one, until="ESTABLISHED")
            remotes = {row.remote for row in table if row.role == "client"}
            assert remotes == {f"127.0.0.1:{first.port}"}, table
            assert all(str(second.port) not in row.local + row.remote for row in table), table
            # The raw lines the same way: the shared local port's other connection is left out.
            rows = [kernel.decode_proc_line(line) for line in kernel.proc_net_tcp(first, one)]
            assert {row["remote"] for row in rows if row["local"] == name_of(one)} == {f"127.0.0.1:{first.port}"}, rows


def _left_over_time_wait():
    """A port number and a client's TIME_WAIT that an earlier, now closed, server on that port left behind."""
    old = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    with old:
        old.bind(("127.0.0.1", 0))
        old.listen()
        client = socket.create_connection(old.getsockname(), timeout=5)
        served, _ = old.accept()
        with client, served:
            client_address = client.getsockname()
            client.close()   # the client closes first: the TIME_WAIT is on its side
            assert served.recv(1) == b""
        port = old.getsockname()[1]
    table = kernel.states(port, client_address, until="TIME_WAIT")
    assert table.of_role("client") == ["TIME_WAIT"], table
    return port, client_address


def test_a_socket_with_no_peer_and_named_clients_leave_out_what_an_old_server_left_on_the_port():
    port, client_address = _left_over_time_wait()
    name = f"127.0.0.1:{client_address[1]}"
    new = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    with new:
        new.bind(("127.0.0.1", port))   # free: the TIME_WAIT is bound to the client's port, not to this one
        # Bound but not listening: it has no connection, so nothing is its own yet.
        assert all(name not in (row.local, row.remote) for row in kernel.states(new)), kernel.states(new)
        new.listen()
        with socket.create_connection(new.getsockname(), timeout=5) as fresh:
            served, _ = new.accept()
            with served:
                named = kernel.states(new, fresh, until="ESTABLISHED")
                assert sorted(named.states()) == ["ESTABLISHED", "ESTABLISHED", "LISTEN"], named
        # The port number names everything on the port, the old client's TIME_WAIT included: the kernel has it.
        assert name in {row.local for row in kernel.states(port)}
        assert kernel.states(new, client_address).of_role("client") == ["TIME_WAIT"]
        # The raw lines pick the same rows as states(): the listener, and of the connections only that client's.
        rows = [kernel.decode_proc_line(line) for line in kernel.proc_net_tcp(port, client_address)]
        assert [row["local"] for row in rows if row["state"] != "LISTEN"] == [name], rows
        assert [row["local"] for row in rows if row["state"] == "LISTEN"] == [name_of(new)], rows


# -- waiting for a state, never in vain ------------------------------------------------------

@pytest.mark.parametrize("until, words", [
    ("FIN_WAIT_2", "'FIN_WAIT2'"),        # the RFC's spelling: the kernel's is offered
    ("fin-wait-2", "'FIN_WAIT2'"),
    ("TIMEWAIT", "'TIME_WAIT'"),          # a typo: the kernel's names are listed
    (5, "5"),
    (["ESTABLISHED", "NOPE"], "'NOPE'"),
])
def test_a_state_the_kernel_never_reports_is_refused_at_once(until, words):
    with serve(handlers.echo) as server:
        started = time.monotonic()
        with pytest.raises((ValueError, TypeError)) as info:
            kernel.states(server, until=until, timeout=30)
        assert time.monotonic() - started < 1.0, "it waited for a state that cannot come"
    message = str(info.value)
    assert words in message and message.endswith(".")


@pytest.mark.parametrize("timeout", [float("nan"), float("inf"), -1, None, "2"])
def test_a_wait_without_a_finite_limit_is_refused(timeout):
    with serve(handlers.echo) as server:
        with pytest.raises(ValueError) as info:
            kernel.states(server, until="CLOSE_WAIT", timeout=timeout)
    assert "timeout" in str(info.value)


def test_a_state_that_does_not_come_returns_what_is_there_after_the_timeout():
    with serve(handlers.echo) as server:
        started = time.monotonic()
        # SYN_RECV: a state no row on this port can be in (nobody connects), whereas
        # an old TIME_WAIT to an earlier server of the same port number may well be there.
        table = kernel.states(server, until="SYN_RECV", timeout=0.3)
        waited = time.monotonic() - started
    assert 0.25 <= waited < 2.0
    assert "LISTEN" in table.states() and "SYN_RECV" not in table.states()


# -- the fast sources say what psutil says --------------------------------------------------
#
# states() reads Linux's sock_diag (the kernel filters by port) or /proc/net/tcp
# (parsed only where a line names our ports) instead of psutil, which parses the
# whole table and maps each socket to a process. The tests below make one socket
# in each state a connection passes through and ask all three sources, and
# states() itself through each, for the same rows.

SOURCES = kernel.TABLE_SOURCES


def _available_sources():
    try:
        diag.tcp_sockets({1})
    except OSError as exc:
        return [pytest.param("sock_diag", marks=pytest.mark.skip(reason=f"sock_diag refused here: {exc}")),
                "/proc/net/tcp", "psutil"]
    return list(SOURCES)


class Zoo:
    """A listener and connections the test drives into each state, all on raw sockets.

    established: both ends ESTABLISHED. half_closed: the client shut down its
    sending side, so the client end is in FIN_WAIT2 and the (still open) server
    end in CLOSE_WAIT. closed: the client closed first, then the server, so the
    client end waits in TIME_WAIT. Nothing here depends on a thread.
    """

    def __init__(self, listen_host: str, connect_host: str):
        family = socket.AF_INET6 if ":" in listen_host else socket.AF_INET
        self.sockets = []
        self.listener = self._keep(socket.socket(family, socket.SOCK_STREAM))
        if family == socket.AF_INET6:
            # "::" with V6ONLY off takes IPv4 clients too, seen as ::ffff:127.0.0.1.
            self.listener.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, listen_host != "::")
        self.listener.bind((listen_host, 0))
        self.listener.listen(8)
        self.port = self.listener.getsockname()[1]
        self.clients = {}
        self.expected = {(kernel_states._addr(self.listener.getsockname()[:2]), "", "LISTEN")}
        for name in ("established", "half_closed", "closed"):
            client = self._keep(socket.create_connection((connect_host, self.port), timeout=5))
            server_end = self._keep(self.listener.accept()[0])
            server_end.settimeout(5)
            # Each end's names as its own socket gives them: with "::" the server end
            # speaks IPv6 and names the IPv4 client [::ffff:127.0.0.1]:port.
            ends = {"client": (name_of(client), _text(client.getpeername())),
                    "server": (_text(server_end.getsockname()), _text(server_end.getpeername()))}
            self.clients[name] = (client, server_end, ends)
        client, server_end, ends = self.clients["established"]
        self.expected |= {(*ends["client"], "ESTABLISHED"), (*ends["server"], "ESTABLISHED")}
        client, server_end, ends = self.clients["half_closed"]
        client.shutdown(socket.SHUT_WR)
        assert server_end.recv(1) == b""
        self.expected |= {(*ends["client"], "FIN_WAIT2"), (*ends["server"], "CLOSE_WAIT")}
        client, server_end, ends = self.clients["closed"]
        client.close()
        assert server_end.recv(1) == b""
        server_end.close()
        self.expected.add((*ends["client"], "TIME_WAIT"))  # the end that closed first waits; the other is gone

    def _keep(self, sock):
        self.sockets.append(sock)
        return sock

    def names(self):
        """The client ends' addresses, as each end of the connection writes them."""
        return [ends[side][index] for _, _, ends in self.clients.values()
                for side, index in (("client", 0), ("server", 1))]

    def close(self):
        for sock in self.sockets:
            sock.close()


@pytest.fixture(params=[("127.0.0.1", "127.0.0.1"), ("::1", "::1"), ("::", "127.0.0.1")],
                ids=["ipv4", "ipv6", "ipv4-mapped"])
def zoo(request):
    listen_host, connect_host = request.param
    if ":" in listen_host and not ipv6_loopback_available():
        pytest.skip("IPv6 loopback (::1) cannot be bound on this machine")
    made = Zoo(listen_host, connect_host)
    try:
        # The last FIN lands a moment after close(); wait until the kernel says so.
        kernel.states(made.port, until="TIME_WAIT")
        yield made
    finally:
        made.close()


def _our_rows(connections, zoo):
    """(local, remote, state) of the listener and of the zoo's connections (not of older TIME_WAITs)."""
    names = set(zoo.names())
    rows = set()
    for conn in connections:
        local, remote = kernel_states._addr(conn.laddr), kernel_states._addr(conn.raddr)
        # A client's port may also name an older connection to another server, still in TIME_WAIT.
        to_zoo = zoo.port in (conn.laddr.port if conn.laddr else 0, conn.raddr.port if conn.raddr else 0)
        ours_ = local in names or remote in names
        listener = conn.status == "LISTEN"
        if to_zoo and (ours_ or listener):
            rows.add((local, remote, conn.status))
    return rows


def _text(address) -> str:
    return kernel_states._addr(address[:2])


@pytest.mark.parametrize("source", _available_sources())
def test_each_source_gives_psutils_rows_for_every_state(zoo, source):
    expected = zoo.expected
    assert len(expected) == 6
    # The reference itself must show them: otherwise agreeing with it would prove nothing.
    assert _our_rows(psutil.net_connections(kind="tcp"), zoo) == expected
    seen = _our_rows(kernel_states._tcp_connections({zoo.port}, source), zoo)
    assert seen == expected


@pytest.mark.parametrize("source", _available_sources())
def test_states_prints_the_same_table_whichever_source_it_reads(zoo, source, monkeypatch):
    closed_client = _address_of(zoo.clients["closed"][2]["client"][0])
    # A server's port; a listener and a socket; a port and a closed socket's old address.
    asked = [(zoo.port,), (zoo.listener, zoo.clients["established"][0]), (zoo.port, closed_client)]
    monkeypatch.setattr(kernel_states, "_source", "psutil")
    reference = [repr(ours(kernel.states(*things), *zoo.names())) for things in asked]
    for state in ("LISTEN", "ESTABLISHED", "FIN_WAIT2", "CLOSE_WAIT", "TIME_WAIT"):
        assert state in reference[0]
    assert "TIME_WAIT" in reference[2] and "ESTABLISHED" not in reference[2]
    monkeypatch.setattr(kernel_states, "_source", source)
    assert [repr(ours(kernel.states(*things), *zoo.names())) for things in asked] == reference


def _address_of(name: str) -> tuple[str, int]:
    host, port = name.rsplit(":", 1)
    return host.strip("[]"), int(port)


def test_the_kernel_filter_keeps_only_the_ports_asked_for():
    with socket.create_server(("127.0.0.1", 0)) as one, socket.create_server(("127.0.0.1", 0)) as two, \
            socket.create_server(("127.0.0.1", 0)) as three:
        ports = [s.getsockname()[1] for s in (one, two, three)]
        with socket.create_connection(("127.0.0.1", ports[1]), timeout=5) as client:
            client_port = client.getsockname()[1]
            try:
                found = diag.tcp_sockets({ports[0], ports[2]})
            except OSError as exc:
                pytest.skip(f"sock_diag refused here: {exc}")
            # Old TIME_WAIT rows of earlier tests may share a port number with ours (the
            # kernel hands port numbers out again), so rows beyond ours are allowed, as
            # long as every row names an asked port.
            asked = {ports[0], ports[2]}
            rows = {(row[2][1], row[3][1], row[1]) for row in found}
            assert all(local in asked or remote in asked for local, remote, _ in rows), rows
            assert {(port, 0, 10) for port in asked} <= rows  # 10 is LISTEN
            assert (client_port, ports[1], 1) not in rows and (ports[1], 0, 10) not in rows
            # A remote port matches too: the client end is found by the server's port.
            found = diag.tcp_sockets({ports[1]})
            pairs = {(row[2][1], row[3][1]) for row in found}
            assert {(ports[1], 0), (client_port, ports[1]), (ports[1], client_port)} <= pairs
            assert all(ports[1] in pair for pair in pairs), pairs
            # Past MAX_FILTERED_PORTS no program is sent and the same rows are kept in Python.
            many = set(range(1, diag.MAX_FILTERED_PORTS + 2)) | {ports[1]}
            unfiltered = diag.tcp_sockets(many)
            assert all(r[2][1] in many or r[3][1] in many for r in unfiltered)
            assert {r for r in unfiltered if ports[1] in (r[2][1], r[3][1])} == set(found)


def test_the_source_states_reads_is_named():
    assert kernel.table_source() in kernel.TABLE_SOURCES
    try:
        diag.tcp_sockets({1})
    except OSError:
        assert kernel.table_source() != "sock_diag" and kernel.table_source_reason()
    else:
        assert kernel.table_source() == "sock_diag" and kernel.table_source_reason() == ""
    with pytest.raises(ValueError) as info:
        kernel_states._tcp_connections({1}, "netstat")
    assert "'netstat'" in str(info.value) and "'sock_diag'" in str(info.value)


def test_accept_queue_counts_the_finished_handshakes_as_proc_net_tcp_does():
    with socket.create_server(("127.0.0.1", 0), backlog=3) as listener:
        listener.settimeout(5)
        clients = [socket.create_connection(listener.getsockname(), timeout=5) for _ in range(3)]
        try:
            # connect() returns once the client's side is done; the server's side follows at once on loopback.
            assert wait_for(lambda: kernel.accept_queue(listener) == 3, timeout=5), kernel.accept_queue(listener)
            line = next(l for l in kernel.proc_net_tcp(listener) if l.split()[3] == "0A")
            assert int(line.split()[4].split(":")[1], 16) == 3
            conn, _ = listener.accept()
            conn.close()
            assert kernel.accept_queue(listener) == 2
            assert kernel.accept_queue(listener.getsockname()[1]) == 2
        finally:
            for client in clients:
                client.close()
    with socket.socket() as unbound:
        with pytest.raises(ValueError, match="listening socket"):
            kernel.accept_queue(unbound)


def test_sock_diag_can_leave_out_states_the_caller_does_not_want():
    from sockcourse.kernel import diag
    try:
        diag.tcp_sockets(set())
    except OSError as exc:
        pytest.skip(f"sock_diag is not available here: {exc}")
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
            conn, _ = listener.accept()
            with conn:
                every = {row[1] for row in diag.tcp_sockets({port})}
                only_listen = {row[1] for row in diag.tcp_sockets({port}, states={10})}
    assert every == {1, 10} and only_listen == {10}
    with pytest.raises(ValueError, match=r"numbers from 1 to 12.*\[13\]"):
        diag.state_mask({13})
