"""The kernel's view: what state the OS says each of our sockets is in.

The notebook's own process holds loopback sockets of its own (Jupyter talks
to the kernel over them), so every view here is filtered to the ports the
caller names: a server, a socket, or a port number.

`states()` reads the same tables as `ss` and `netstat`; `proc_net_tcp()`
shows the raw lines of Linux's /proc/net/tcp for the "everything is a file"
aside.

Where states() reads the table (`table_source()` names it), best first:

- "sock_diag" (Linux): the kernel's own filter, asked over netlink as `ss`
  asks it (see diag.py). Only the sockets on the ports asked about come
  back; the kernel still walks its table, but in C and without printing it,
  so 20,000 TIME_WAIT sockets left by a benchmark cost a call some
  milliseconds, not a third of a second. Chapter 01 asks after every step,
  so this is what keeps it quick right after chapter 04 or `bench`.
- "/proc/net/tcp" (Linux where netlink is refused, e.g. some sandboxes): the
  raw table, read whole but parsed only where a line names one of our
  ports, and without a scan of every process's files.
- "psutil" (macOS and the rest): portable, and the reference the other two
  are tested against, but on Linux it parses every line and maps every
  socket to its process, which is what made each call cost a third of a
  second after a benchmark.

The three give the same rows: one per kernel socket, addresses and state
names as psutil spells them.
"""

from __future__ import annotations

import os
import socket
import sys
import time
from dataclasses import dataclass
from typing import NamedTuple

import psutil

from . import diag
from ..core.addresses import peer_text
from ..core.checks import check_seconds
from ..core.errors import ArgumentError, ArgumentTypeError
from ..protocols.tcpstates import KERNEL_NAMES

#: The state numbers in /proc/net/tcp, from the Linux kernel's
#: include/net/tcp_states.h, named as RFC 793 (and psutil) names them.
PROC_TCP_STATES = {
    "01": "ESTABLISHED", "02": "SYN_SENT", "03": "SYN_RECV", "04": "FIN_WAIT1",
    "05": "FIN_WAIT2", "06": "TIME_WAIT", "07": "CLOSE", "08": "CLOSE_WAIT",
    "09": "LAST_ACK", "0A": "LISTEN", "0B": "CLOSING",
}

_ROLE_ORDER = {"listening": 0, "client": 1, "server": 2, "other": 3}


@dataclass(frozen=True)
class SocketState:
    """One TCP socket as the kernel sees it."""

    role: str     # "listening", "server" (accepted end), "client", or "other"
    local: str    # "127.0.0.1:5000"
    remote: str   # "" for a listening socket
    state: str    # "LISTEN", "ESTABLISHED", "TIME_WAIT", ...


class StateTable(list):
    """A list of SocketState that shows itself as a small table."""

    def states(self) -> list[str]:
        return [row.state for row in self]

    def of_role(self, role: str) -> list[str]:
        """The states of the sockets with one role, e.g. table.of_role('client')."""
        return [row.state for row in self if row.role == role]

    def __repr__(self) -> str:
        if not self:
            return "(no sockets on these ports)"
        header = ("role", "local", "remote", "state")
        rows = [header] + [(r.role, r.local, r.remote or "-", r.state) for r in self]
        widths = [max(len(row[i]) for row in rows) for i in range(4)]
        return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows)

    __str__ = __repr__


def _ports_of(things, endpoints: set | None = None, unconnected: set | None = None) -> tuple[set[int], set[int]]:
    """(server ports, other ports) named by servers, sockets and numbers.

    Sockets that are not listening also add their own address ("127.0.0.1:5000")
    to `endpoints`, and to `unconnected` too when they have no peer.
    """
    servers, others = set(), set()
    unconnected = set() if unconnected is None else unconnected
    for thing in things:
        if isinstance(thing, bool):
            raise ArgumentTypeError(f"Expected a server, a socket or a port number, but got {thing!r}; "
                            f"for example kernel.states(server) or kernel.states(8080).")
        if isinstance(thing, int):
            # A bare number names a server's port: the usual question is "what
            # became of the connections to my server?", even after its sockets closed.
            servers.add(thing)
        elif isinstance(thing, socket.socket):
            if thing.fileno() == -1:
                continue  # closed: the kernel view shows what is left through the other ports
            port = thing.getsockname()[1]
            listening = thing.type == socket.SOCK_STREAM and thing.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)
            (servers if listening else others).add(port)
            if not listening and endpoints is not None:
                endpoints.add(_addr(thing.getsockname()))
                try:
                    thing.getpeername()
                except OSError:
                    unconnected.add(_addr(thing.getsockname()))
        elif (isinstance(thing, tuple) and len(thing) >= 2 and isinstance(thing[0], str)
              and isinstance(thing[1], int)):
            # An address such as a closed socket's old getsockname(): that one endpoint.
            others.add(thing[1])
            if endpoints is not None:
                endpoints.add(_addr(thing))
        elif getattr(thing, "port", None) is not None:
            servers.add(thing.port)
        else:
            raise ArgumentTypeError(
                f"Expected a server, a TCP socket, a port number or a (host, port) address, but got {thing!r}; "
                f"for example kernel.states(server) or kernel.states(server, client_socket)."
            )
    return servers, others


@dataclass(frozen=True)
class _Asked:
    """What a call named, and so which of the kernel's rows it wants: states() and proc_net_tcp() alike."""

    server_ports: set
    ports: set
    endpoints: set      # addresses of named sockets that are not listening, and named addresses
    unconnected: set    # those of them that have no peer

    @classmethod
    def of(cls, things) -> _Asked:
        endpoints, unconnected = set(), set()
        server_ports, other_ports = _ports_of(things, endpoints, unconnected)
        return cls(server_ports, server_ports | other_ports, endpoints, unconnected)

    def wants(self, laddr, raddr, status: str) -> bool:
        """Whether the row of a socket at laddr, talking to raddr, in `status`, answers the question."""
        local_port = laddr.port if laddr else None
        remote_port = raddr.port if raddr else None
        if not self.endpoints:
            return local_port in self.ports or remote_port in self.ports
        # Named sockets pick their own connections (and the listener): another connection
        # that happens to share a port number would only confuse. With a server named too, the
        # connection must also be to that server: one local port may serve connections to
        # different servers, at once or one after another. A socket with no peer has no
        # connection, so a row whose far end is its address is not one of its own.
        local, remote = _addr(laddr), _addr(raddr)
        to_server = not self.server_ports or local_port in self.server_ports or remote_port in self.server_ports
        theirs = remote in self.endpoints and remote not in self.unconnected
        return ((local in self.endpoints or theirs) and to_server
                or (status == psutil.CONN_LISTEN and local_port in self.server_ports))


def _addr(address) -> str:
    return peer_text(address) if address else ""


#: The sources states() can read, in the order it tries them (see the module's docstring).
TABLE_SOURCES = ("sock_diag", "/proc/net/tcp", "psutil")

_source: str | None = None   # decided on first use, then kept
_source_reason = ""


def table_source() -> str:
    """Which source states() reads on this machine: 'sock_diag', '/proc/net/tcp' or 'psutil'.

    Decided once, on first use, by asking: sock_diag where the kernel answers
    it, else /proc/net/tcp where it exists, else psutil. `table_source_reason()`
    says why the better ones were passed over.
    """
    global _source, _source_reason
    if _source is None:
        reasons = []
        if sys.platform.startswith("linux"):
            try:
                diag.tcp_sockets({1})  # a real question; its answer does not matter
            except OSError as exc:
                reasons.append(f"sock_diag is not available ({exc})")
            else:
                _source, _source_reason = "sock_diag", ""
                return _source
        if os.path.exists("/proc/net/tcp"):
            _source = "/proc/net/tcp"
        else:
            reasons.append("there is no /proc/net/tcp")
            _source = "psutil"
        _source_reason = "; ".join(reasons)
    return _source


def table_source_reason() -> str:
    """Why states() does not read a better source than `table_source()`; "" where it reads the best."""
    table_source()
    return _source_reason


class _Address(NamedTuple):
    """An address as psutil gives it (ip, port), so every source's rows read alike."""

    ip: str
    port: int


class _Conn(NamedTuple):
    """One socket as psutil's net_connections() gives it: what the other sources make too."""

    laddr: tuple   # (host, port), or () when the port is 0 (no address)
    raddr: tuple
    status: str


def _tcp_connections(ports: set[int], source: str | None = None):
    """The TCP sockets that may be on `ports`, from `source` (the machine's best by default).

    sock_diag and /proc/net/tcp return only sockets with a local or remote
    port in `ports`; psutil returns every socket. The caller filters further.
    """
    global _source, _source_reason
    if source is None:
        source = table_source()
        if source == "sock_diag":
            try:
                return _diag_connections(ports)
            except OSError as exc:
                # The kernel answered the first time; if it stops (a timeout under
                # load, a new sandbox rule), the raw table still gives the same rows.
                _source, _source_reason = "/proc/net/tcp", f"sock_diag failed ({exc})"
                source = _source
    if source == "sock_diag":
        return _diag_connections(ports)
    if source == "/proc/net/tcp":
        return [_Conn(*_proc_address_pair(line), PROC_TCP_STATES.get(line.split(None, 4)[3], "NONE"))
                for line in _proc_lines(ports)]
    if source == "psutil":
        return _psutil_connections()
    raise ArgumentError(f"The table source {source!r} is not one of {', '.join(map(repr, TABLE_SOURCES))}.")


def _diag_connections(ports: set[int]) -> list[_Conn]:
    return [_Conn(_Address(*local) if local[1] else (), _Address(*remote) if remote[1] else (),
                  PROC_TCP_STATES.get(f"{state:02X}", "NONE"))
            for _, state, local, remote, _ in diag.tcp_sockets(ports)]


def _psutil_connections():
    try:
        return psutil.net_connections(kind="tcp")
    except psutil.AccessDenied:
        # macOS lets only root list every socket; our own process is still visible
        # (sockets in TIME_WAIT belong to no process, so they are missing then).
        own = psutil.Process()
        return (own.net_connections if hasattr(own, "net_connections") else own.connections)(kind="tcp")


def _role(conn, server_ports: set[int]) -> str:
    if conn.status == psutil.CONN_LISTEN:
        return "listening"
    if conn.laddr and conn.laddr.port in server_ports:
        return "server"
    if conn.raddr and conn.raddr.port in server_ports:
        return "client"
    return "other"


def states(*things, until=None, timeout: float = 2.0) -> StateTable:
    """The kernel's state of every TCP socket on the ports of `things`.

    things: servers, sockets, port numbers or (host, port) addresses. A number or a listening socket
        names a server's port; a socket on a server's port is the "server" end,
        a socket talking to it the "client" end. When sockets that are not
        listening (or addresses) are named, only their own connections and
        the listening sockets are shown; a socket with no peer has no
        connection, so only its own row is looked for. A port number outlives
        its server: a client's TIME_WAIT left by an earlier server on the same
        number is on that port too, and naming the clients leaves it out.
    until: a state name, or a collection of them, that the caller expects to
        see. State changes land a moment after the call that caused them (the
        peer's thread must run), so this waits up to `timeout` seconds for
        them, then returns what is there either way.
    """
    asked = _Asked.of(things)
    if not asked.ports:
        raise ArgumentError("Name at least one server, socket or port, for example kernel.states(server).")
    expected = _check_states(until)
    timeout = check_seconds(timeout, "timeout", none_ok=False, example=2.0)
    deadline = time.monotonic() + timeout
    while True:
        table = StateTable()
        for conn in _tcp_connections(asked.ports):
            if asked.wants(conn.laddr, conn.raddr, conn.status):
                table.append(SocketState(_role(conn, asked.server_ports), _addr(conn.laddr),
                                         _addr(conn.raddr), conn.status))
        table.sort(key=lambda r: (_ROLE_ORDER[r.role], r.state, r.local, r.remote))
        if expected <= set(table.states()) or time.monotonic() >= deadline:
            return table
        time.sleep(0.005)


def _check_states(until) -> set[str]:
    """The kernel's names in `until` (one name or several), each checked, so a typo cannot wait forever."""
    if until is None:
        return set()
    names = [until] if isinstance(until, str) else until
    try:
        names = list(names)
    except TypeError:
        raise ArgumentTypeError(f"The until argument must be a state name such as 'ESTABLISHED', or a list of them, but got "
                                f"{until!r}; for example until='TIME_WAIT'.") from None
    for name in names:
        if name not in KERNEL_NAMES:
            spelled = {}
            for kernel, rfc in KERNEL_NAMES.items():
                spelled.setdefault(rfc, kernel)  # the first is the name psutil shows ("CLOSE" for CLOSED)
            near = spelled.get(str(name).upper().replace("-", "_"))
            hint = (f"the kernel spells it {near!r}" if near else
                    f"use one of {', '.join(map(repr, KERNEL_NAMES))}")
            raise ArgumentError(f"The state {name!r} is not one the kernel reports, so states() would wait for it "
                                f"in vain; {hint}.")
    return set(names)


def proc_net_tcp(*things) -> list[str]:
    """The raw lines of /proc/net/tcp and /proc/net/tcp6 for these ports (Linux only).

    Addresses and ports are hexadecimal there; `decode_proc_line` reads one.
    As in states(), naming a socket that is not listening, or an address, keeps
    only the lines of that endpoint's own connections.
    """
    asked = _Asked.of(things)
    return [line for line in _proc_lines(asked.ports)
            if asked.wants(*_proc_address_pair(line), PROC_TCP_STATES.get(line.split(None, 4)[3], "NONE"))]


def _proc_lines(ports: set[int]) -> list[str]:
    wanted = {f"{p:04X}" for p in ports}
    lines = []
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(name) as table:
                rows = table.read().splitlines()[1:]
        except FileNotFoundError:
            continue
        for row in rows:
            # Only the first three fields matter here; splitting the other
            # fourteen of 20,000 lines would cost more than reading them.
            fields = row.split(None, 3)
            if fields[1][-4:] in wanted or fields[2][-4:] in wanted:
                lines.append(row.strip())
    return lines


def accept_queue(listener) -> int | None:
    """How many finished handshakes wait in the accept queue of `listener` (a listening socket or its port).

    The kernel keeps the count as the listening socket's receive queue. It is
    asked through sock_diag where it answers (the cost follows this one port,
    however many sockets the machine has), else read from /proc/net/tcp; None
    where neither exists (not Linux).
    """
    (port,) = _ports_of((listener,))[0] or (None,)
    if port is None:
        raise ArgumentError(f"accept_queue() needs a listening socket or its port, but got {listener!r}; "
                            f"for example kernel.accept_queue(listener).")
    if table_source() == "sock_diag":
        try:
            for _, state, local, _, rqueue in diag.tcp_sockets({port}):
                if state == 0x0A and local[1] == port:  # 0A: LISTEN
                    return rqueue
            return None
        except OSError:
            pass  # the raw table says the same, only slower
    for line in _proc_lines({port}):
        fields = line.split()
        if fields[3] == "0A" and fields[1].endswith(f":{port:04X}"):
            return int(fields[4].split(":")[1], 16)
    return None


def decode_proc_line(line: str) -> dict:
    """Read one /proc/net/tcp line: its local and remote address and state."""
    fields = line.split()
    local, remote = (_proc_address(text) for text in fields[1:3])
    return {"local": _addr(local), "remote": _addr(remote),
            "state": PROC_TCP_STATES.get(fields[3], fields[3])}


def _proc_address_pair(line: str) -> tuple[tuple, tuple]:
    """A line's local and remote address as psutil gives them: () where the port is 0."""
    fields = line.split(None, 3)
    local, remote = _proc_address(fields[1]), _proc_address(fields[2])
    return (_Address(*local) if local[1] else ()), (_Address(*remote) if remote[1] else ())


def _proc_address(text: str) -> tuple[str, int]:
    host_hex, port_hex = text.rsplit(":", 1)
    raw = bytes.fromhex(host_hex)
    if len(raw) == 4:
        # The kernel prints the address as a number in the CPU's byte order.
        host = socket.inet_ntop(socket.AF_INET, raw[::-1] if _little_endian() else raw)
    else:
        words = [raw[i:i + 4] for i in range(0, 16, 4)]
        raw = b"".join(w[::-1] if _little_endian() else w for w in words)
        host = socket.inet_ntop(socket.AF_INET6, raw)
    return host, int(port_hex, 16)


def _little_endian() -> bool:
    return sys.byteorder == "little"
