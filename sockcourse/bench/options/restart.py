"""Chapter 07's restart options, each made to change a count on real loopback sockets.

- SO_REUSEADDR: a server that closed a connection first leaves that side in
  TIME_WAIT for 60 s on Linux (TCP_TIMEWAIT_LEN in include/net/tcp.h); a new
  listener on the same port fails with EADDRINUSE unless both the old socket
  and the new one set SO_REUSEADDR (`time_wait_restart`).
- SO_REUSEPORT: two live listeners on one port, and how the kernel splits
  the incoming connections between them (`spread`, `reuseport_spread`).
- SO_LINGER: what close() does with bytes the peer has not read yet: a FIN
  after them, or with Linger(True, 0) an RST that throws away what is still
  in the sender's kernel (`unread_data`, `linger_close`).
- SO_ERROR: how a non-blocking connect() tells its result (`connect_result`).

Everything here binds 127.0.0.1 on port 0, caps its counts, puts a timeout on
every wait and closes every socket it opened, also when a step fails. Results
are frozen dataclasses of plain numbers and strings. `EXPLORE` and `VALUES`
are what the chapter's explorer offers for these options.
"""

from __future__ import annotations

import contextlib
import errno
import selectors
import socket
import time
from dataclasses import asdict, dataclass

from . import Tried
from ...core.checks import check_seconds, check_whole
from ...core.errors import ArgumentError, SockcourseError, TimeLimitError
from ...kernel import options, view
from ...kernel.options import Linger

__all__ = ["CloseResult", "ConnectResult", "EXPLORE", "MAX_CONNECTIONS", "MAX_LISTENERS", "RestartExperimentError",
           "RestartResult", "SpreadResult", "UnreadData", "VALUES", "connect_result", "linger_close",
           "reuseport_spread", "spread", "time_wait_restart", "unread_data"]

HOST = "127.0.0.1"

#: Seconds any one wait may take (a connect, an accept, a recv).
TIMEOUT = 5.0

#: At most this many connections per spread() call: each leaves a TIME_WAIT
#: entry for 60 s and takes one of the 28,232 ephemeral ports of Linux's
#: default net.ipv4.ip_local_port_range (32768 to 60999).
MAX_CONNECTIONS = 5000

#: At most this many listeners share a port in spread().
MAX_LISTENERS = 16

#: The most bytes unread_data() pushes while it waits for the send buffer to fill.
MAX_UNREAD_BYTES = 64 << 20
_CHUNK = 64 << 10

#: The explorer runs each experiment in about a second at most, so SO_LINGER's
#: timeout there is 0 or 1 second (close() may block for all of it).
EXPLORE_MAX_LINGER = 1


class RestartExperimentError(SockcourseError):
    """An experiment of this module could not finish as set up; the message says which step failed."""


def _errno_name(code: int | None) -> str:
    if not code:
        return "0"
    return errno.errorcode.get(code, f"errno {code}")


def _outcome(exc: OSError | None) -> str:
    """What a bind() did, as the results hold it: 'bound', or the errno's name ('EADDRINUSE')."""
    return "bound" if exc is None else _errno_name(exc.errno)


def _listener(*, reuse_address: bool = False, reuse_port: bool = False, port: int = 0,
              backlog: int = 128) -> socket.socket:
    """A TCP listener on 127.0.0.1 with exactly the options asked for; raises OSError as bind() does."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.settimeout(TIMEOUT)  # accept() gives up rather than hang if a connection never comes
        if reuse_address:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((HOST, port))
        sock.listen(backlog)
    except BaseException:
        sock.close()
        raise
    return sock


def _try_bind(port: int, *, reuse_address: bool = False, reuse_port: bool = False) -> OSError | None:
    """Bind and listen on `port` with these options, close again; the OSError bind() raised, or None."""
    try:
        _listener(reuse_address=reuse_address, reuse_port=reuse_port, port=port).close()
    except OSError as exc:
        return exc
    return None


def _connect(address, timeout: float = TIMEOUT) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect(address)
    except BaseException:
        sock.close()
        raise
    return sock


def _rows(port: int, *endpoints, until=None, timeout: float = 2.0) -> view.StateTable:
    return view.states(port, *endpoints, until=until, timeout=timeout)


# -- SO_REUSEADDR: a restart while TIME_WAIT lingers ------------------------------------
@dataclass(frozen=True)
class RestartResult:
    """A server restarted on its old port while its last connection sits in TIME_WAIT."""

    old_reuse: bool              # the first listener had SO_REUSEADDR (its connection's TIME_WAIT keeps the flag)
    time_wait: tuple[str, ...]   # the kernel's states of the server's side of that connection ("TIME_WAIT",)
    without_reuse: str           # a new listener without SO_REUSEADDR: "bound" or the errno name
    with_reuse: str              # a new listener with SO_REUSEADDR
    two_listeners: str           # a second live listener, SO_REUSEADDR on both: "bound" or the errno name

    def to_dict(self) -> dict:
        return asdict(self)


def time_wait_restart(old_reuse: bool = True) -> RestartResult:
    """Serve one connection that the server closes first, stop listening, then try to listen there again.

    old_reuse: whether the first listener sets SO_REUSEADDR, as
        sockcourse.serve() does by default. Linux lets the new listener in only
        when the old socket had it too: the TIME_WAIT remnant keeps the flag.
    """
    if not isinstance(old_reuse, bool):
        raise ArgumentError(f"old_reuse says whether the first listener sets SO_REUSEADDR, so it is True or "
                            f"False, but got {old_reuse!r}; for example time_wait_restart(old_reuse=True).")
    with _listener(reuse_address=old_reuse) as first:
        port = first.getsockname()[1]
        with _connect(first.getsockname()) as client:
            server_side, _ = first.accept()
            server_side.close()                   # the server closes first: its side will wait in TIME_WAIT
            client.recv(1)                        # b'': the FIN arrived
            client_address = client.getsockname()
        with _listener(reuse_address=True, port=0) as live:
            # Two live listeners: SO_REUSEADDR on both, still refused on Linux.
            two = _try_bind(live.getsockname()[1], reuse_address=True)
    rows = _rows(port, client_address, until="TIME_WAIT")
    return RestartResult(old_reuse=old_reuse, time_wait=tuple(rows.of_role("server")),
                         without_reuse=_outcome(_try_bind(port)),
                         with_reuse=_outcome(_try_bind(port, reuse_address=True)),
                         two_listeners=_outcome(two))


# -- SO_REUSEPORT: listeners sharing a port ---------------------------------------------
@dataclass(frozen=True)
class SpreadResult:
    """How many of the connections to one port each of the listeners sharing it accepted."""

    connections: int               # connections made (and closed, by the client first)
    counts: tuple[int, ...]        # accepted by each listener, in the order they were given
    client_time_wait: int          # the clients' sides left in TIME_WAIT afterwards
    server_time_wait: int          # the accepted sides left in TIME_WAIT (0: the client closed first)
    seconds: float                 # how long connecting and accepting took

    @property
    def expected(self) -> float:
        """The even share: connections divided by listeners."""
        return self.connections / len(self.counts)

    @property
    def shares(self) -> tuple[float, ...]:
        """Each listener's fraction of the connections."""
        return tuple(count / self.connections for count in self.counts)

    def to_dict(self) -> dict:
        return {**asdict(self), "counts": list(self.counts), "expected": self.expected, "shares": list(self.shares)}


def _check_listeners(listeners) -> list[socket.socket]:
    example = "for example spread([first, second]) with two listening sockets bound to one port"
    if isinstance(listeners, socket.socket) or not isinstance(listeners, (list, tuple)):
        raise ArgumentError(f"spread() takes a list of listening sockets that share one port, but got "
                            f"{listeners!r}; {example}.")
    if not 1 <= len(listeners) <= MAX_LISTENERS:
        raise ArgumentError(f"spread() takes 1 to {MAX_LISTENERS} listening sockets, but got {len(listeners)}; "
                            f"{example}.")
    ports = set()
    for sock in listeners:
        if not isinstance(sock, socket.socket) or sock.fileno() == -1:
            raise ArgumentError(f"Every listener must be an open socket.socket, but got {sock!r}; {example}.")
        if sock.family != socket.AF_INET or sock.type != socket.SOCK_STREAM \
                or not sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
            raise ArgumentError(f"Every listener must be a TCP socket on 127.0.0.1 that called listen(), but "
                                f"{sock!r} is not listening; call bind() and listen() first.")
        host, port = sock.getsockname()[:2]
        if host != HOST:
            raise ArgumentError(f"The listeners must be bound to 127.0.0.1 (the course talks to loopback only), "
                                f"but {sock!r} is bound to {host}; bind(('127.0.0.1', 0)).")
        ports.add(port)
    if len(ports) != 1:
        raise ArgumentError(f"The listeners must share one port, but they are on ports {sorted(ports)}; bind the "
                            f"later ones to the first one's port, with SO_REUSEPORT set on all of them.")
    if len({sock.fileno() for sock in listeners}) != len(listeners):
        raise ArgumentError("The same socket is in the list twice; pass each listening socket once.")
    return list(listeners)


def _accept_all(listeners, counts: list[int]) -> None:
    """Accept and close whatever waits on each (non-blocking) listener; count per listener."""
    for index, listener in enumerate(listeners):
        for _ in range(MAX_CONNECTIONS + 1):    # bounded: never more waiting than were made
            try:
                conn, _ = listener.accept()
            except (BlockingIOError, InterruptedError):
                break
            conn.close()
            counts[index] += 1


def _time_wait_counts(port: int, wanted: int, wait: float) -> tuple[int, int]:
    """(client sides, accepted sides) in TIME_WAIT on `port`, waiting up to `wait` s for `wanted` clients."""
    deadline = time.monotonic() + wait
    while True:
        rows = _rows(port)
        clients = sum(1 for row in rows if row.role == "client" and row.state == "TIME_WAIT")
        servers = sum(1 for row in rows if row.role == "server" and row.state == "TIME_WAIT")
        if clients >= wanted or time.monotonic() >= deadline:
            return clients, servers
        time.sleep(0.01)


def spread(listeners, connections: int = 1000, *, timeout: float = TIMEOUT) -> SpreadResult:
    """Make `connections` connections to the listeners' shared port and count who accepted each.

    Each connection is made, closed by the client (so TIME_WAIT is on the
    client's side) and accepted by whichever listener the kernel chose; the
    listeners are drained after every connect, so no accept queue overflows.
    The listeners are left open and as blocking as they were.
    timeout: seconds one connect, and the final draining, may take.
    """
    listeners = _check_listeners(listeners)
    connections = check_whole(connections, "number of connections", low=1, high=MAX_CONNECTIONS, example=1000)
    timeout = check_seconds(timeout, "timeout", none_ok=False, maximum=60, example=TIMEOUT)
    address = listeners[0].getsockname()[:2]
    saved = [sock.gettimeout() for sock in listeners]
    counts = [0] * len(listeners)
    started = time.perf_counter()
    try:
        for sock in listeners:
            sock.setblocking(False)
        for _ in range(connections):
            _connect(address, timeout).close()
            _accept_all(listeners, counts)
        deadline = time.monotonic() + timeout
        with selectors.DefaultSelector() as selector:
            for sock in listeners:
                selector.register(sock, selectors.EVENT_READ)
            while sum(counts) < connections and time.monotonic() < deadline:
                if selector.select(timeout=max(0.0, deadline - time.monotonic())):
                    _accept_all(listeners, counts)
    finally:
        for sock, before in zip(listeners, saved):
            if sock.fileno() != -1:
                sock.settimeout(before)
    seconds = time.perf_counter() - started
    if sum(counts) != connections:
        raise TimeLimitError(f"The listeners accepted {sum(counts)} of the {connections} connections within "
                             f"{timeout} s; another socket on this port (another program's, with SO_REUSEPORT "
                             f"too) may have taken the rest, so run it again on a fresh port.")
    clients, servers = _time_wait_counts(address[1], connections, wait=1.0)
    return SpreadResult(connections=connections, counts=tuple(counts), client_time_wait=clients,
                        server_time_wait=servers, seconds=seconds)


def reuseport_spread(connections: int = 1000, listeners: int = 2) -> SpreadResult:
    """`spread()` over `listeners` fresh listeners that all set SO_REUSEPORT on one port of 127.0.0.1."""
    connections = check_whole(connections, "number of connections", low=1, high=MAX_CONNECTIONS, example=1000)
    listeners = check_whole(listeners, "number of listeners", low=1, high=MAX_LISTENERS, example=2)
    with contextlib.ExitStack() as stack:
        first = stack.enter_context(_listener(reuse_port=True, backlog=1024))
        port = first.getsockname()[1]
        group = [first] + [stack.enter_context(_listener(reuse_port=True, port=port, backlog=1024))
                           for _ in range(listeners - 1)]
        return spread(group, connections)


# -- SO_LINGER: close() with data the peer has not read ----------------------------------
def _queued(sock: socket.socket) -> int | None:
    """Bytes waiting in the socket's receive queue (ioctl FIONREAD, SIOCINQ on Linux), None where unknown."""
    try:
        import array
        import fcntl
        import termios
    except ImportError:  # not a POSIX system
        return None
    buffer = array.array("i", [0])
    try:
        fcntl.ioctl(sock.fileno(), termios.FIONREAD, buffer, True)
    except OSError:
        return None
    return buffer[0]


class UnreadData:
    """A loopback connection whose client has sent more than the server has read (the server read nothing).

    client: the sending end; close it (with or without SO_LINGER) to see what
        becomes of the bytes. server: the accepted end, not read yet.
    sent: bytes the client's send() calls handed to its kernel, until the
        send buffer was full (the server's receive queue is full as well).
    Made by `unread_data()`, which closes everything at the end of its block.
    """

    def __init__(self, listener: socket.socket, client: socket.socket, server: socket.socket, sent: int):
        self.listener, self.client, self.server, self.sent = listener, client, server, sent
        self.port = listener.getsockname()[1]
        self.client_address = client.getsockname()[:2]

    def queued(self) -> int | None:
        """Bytes that have reached the server's kernel and wait in its receive queue (None where unknown)."""
        return _queued(self.server)

    def client_states(self) -> list[str]:
        """The kernel's state of the client's side of this connection now ([] once the kernel forgot it)."""
        return _rows(self.port, self.client_address).of_role("client")

    def read_all(self, timeout: float = 2.0) -> tuple[int, str]:
        """Read the server's end until it ends: (bytes read, "EOF" or the errno name recv() raised).

        timeout: seconds one recv() may wait; the reading is capped at the
        bytes sent, plus one recv() for the ending.
        """
        timeout = check_seconds(timeout, "timeout", none_ok=False, maximum=60, example=2.0)
        self.server.settimeout(timeout)
        got = 0
        for _ in range(self.sent + 2):  # bounded: each turn reads a byte at least, or ends
            try:
                data = self.server.recv(1 << 20)
            except TimeoutError:
                return got, "timeout"
            except OSError as exc:
                return got, _errno_name(exc.errno)
            if not data:
                return got, "EOF"
            got += len(data)
        raise RestartExperimentError(f"The server read {got:,} bytes, more than the {self.sent:,} the client "
                                     f"sent, without reaching the end; that should not happen: please report it.")

    def close(self) -> None:
        for sock in (self.client, self.server, self.listener):
            sock.close()


@contextlib.contextmanager
def unread_data():
    """A connection whose client's kernel holds bytes the server has not read: `with unread_data() as pair:`.

    The client sends without blocking until its send buffer is full; by then
    the server's receive queue is full too, because the server reads nothing.
    No buffer size is set: both ends keep the kernel's defaults. Everything
    is closed when the block ends.
    """
    with contextlib.ExitStack() as stack:
        listener = stack.enter_context(_listener())
        client = stack.enter_context(_connect(listener.getsockname()))
        server, _ = listener.accept()
        stack.enter_context(server)
        client.setblocking(False)
        sent, chunk = 0, b"x" * _CHUNK
        while sent < MAX_UNREAD_BYTES:
            try:
                sent += client.send(chunk)
            except BlockingIOError:
                break
        else:
            raise RestartExperimentError(f"The client's kernel took {sent:,} bytes without its send buffer "
                                         f"filling; this experiment needs a full buffer, so check "
                                         f"net.ipv4.tcp_wmem and net.ipv4.tcp_rmem.")
        client.settimeout(TIMEOUT)
        pair = UnreadData(listener, client, server, sent)
        yield pair


@dataclass(frozen=True)
class CloseResult:
    """What close() did with bytes the server had not read yet, for one SO_LINGER setting."""

    linger_on: bool                  # SO_LINGER's l_onoff
    linger_seconds: int              # its l_linger
    sent: int                        # bytes the client's kernel took before close()
    queued: int | None               # of those, bytes already in the server's receive queue at close()
    received: int                    # bytes the server read after close()
    ending: str                      # how the server's reading ended: "EOF" or "ECONNRESET"
    close_seconds: float             # how long close() took
    readback: tuple[bool, int]       # SO_LINGER as the kernel gave it back before close(): (on, seconds)
    client_after_close: tuple[str, ...]  # the client side's states just after close()
    client_after_read: tuple[str, ...]   # ... and after the server read to the end and closed

    @property
    def lost(self) -> int:
        """Bytes sent that never arrived."""
        return self.sent - self.received

    def to_dict(self) -> dict:
        return {**asdict(self), "lost": self.lost}


def _check_linger(value, what: str, max_seconds: int | None = None) -> Linger | None:
    seconds_rule = f"from 0 to {max_seconds}" if max_seconds is not None else "of 0 or more"
    accepted = (f"None (off) or Linger(on, seconds) with on True or False and seconds a whole number "
                f"{seconds_rule}")
    if value is None:
        return None
    if isinstance(value, tuple) and len(value) == 2:
        on, seconds = value
        flag = isinstance(on, bool) or (isinstance(on, int) and on in (0, 1))
        whole = isinstance(seconds, int) and not isinstance(seconds, bool)
        if flag and whole and seconds >= 0 and (max_seconds is None or seconds <= max_seconds):
            return Linger(bool(on), seconds)
    raise ArgumentError(f"SO_LINGER takes {accepted}, but {what} got {value!r}; for example Linger(True, 0).")


def linger_close(linger=None) -> CloseResult:
    """Close a client whose data the server has not read, with SO_LINGER set to `linger`, then read it all.

    linger: None (the default close: FIN after the data, in the background),
        Linger(True, 0) (RST: what the client's kernel still holds is thrown
        away), or Linger(True, n) (close() waits up to n seconds for the data
        to be delivered and acknowledged).
    """
    linger = _check_linger(linger, "linger_close()", max_seconds=30)
    with unread_data() as pair:
        if linger is not None:
            options.set(pair.client, "SO_LINGER", linger)
        readback = tuple(options.get(pair.client, "SO_LINGER"))
        queued = pair.queued()
        started = time.perf_counter()
        pair.client.close()
        close_seconds = time.perf_counter() - started
        after_close = pair.client_states()
        received, ending = pair.read_all()
        pair.server.close()
        # The client's side reaches TIME_WAIT once the server's FIN is answered.
        after_read = _rows(pair.port, pair.client_address,
                           until=None if ending != "EOF" else "TIME_WAIT").of_role("client")
    on, seconds = linger if linger is not None else (False, 0)
    return CloseResult(linger_on=on, linger_seconds=seconds, sent=pair.sent, queued=queued, received=received,
                       ending=ending, close_seconds=close_seconds, readback=readback,
                       client_after_close=tuple(after_close), client_after_read=tuple(after_read))


# -- SO_ERROR: the result of a non-blocking connect ------------------------------------
@dataclass(frozen=True)
class ConnectResult:
    """What a non-blocking connect() to a loopback port said, and what SO_ERROR said after."""

    listening: bool        # the port had a listener (else: bound, never listening: refused)
    connect_ex: str        # the errno name connect_ex() returned: "EINPROGRESS" here, "0" if it connected at once
    writable: bool         # select() said writable within the timeout
    so_error: int          # the first getsockopt(SOL_SOCKET, SO_ERROR)
    so_error_name: str     # its name: "ECONNREFUSED", or "0"
    so_error_again: int    # the second read: 0, since reading clears it
    wait_seconds: float    # how long select() waited

    def to_dict(self) -> dict:
        return asdict(self)


def connect_result(listening: bool, timeout: float = 2.0) -> ConnectResult:
    """A non-blocking connect to a port of our own, with or without a listener, and what SO_ERROR tells.

    The port is owned by a socket bound to 127.0.0.1 port 0; with
    listening=False it never calls listen(), so a connection to it is refused
    and no other program's port is ever tried.
    """
    if not isinstance(listening, bool):
        raise ArgumentError(f"listening says whether the port has a listener, so it is True or False, but got "
                            f"{listening!r}; for example connect_result(listening=False).")
    timeout = check_seconds(timeout, "timeout", none_ok=False, maximum=60, example=2.0)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind((HOST, 0))
        if listening:
            holder.listen(1)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as client:
            client.setblocking(False)
            code = client.connect_ex(holder.getsockname())
            with selectors.DefaultSelector() as selector:
                selector.register(client, selectors.EVENT_WRITE)
                started = time.perf_counter()
                writable = bool(selector.select(timeout=timeout))
                waited = time.perf_counter() - started
            first = client.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            second = client.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    return ConnectResult(listening=listening, connect_ex=_errno_name(code), writable=writable, so_error=first,
                         so_error_name=_errno_name(first), so_error_again=second, wait_seconds=waited)


# -- the explorer's experiments -----------------------------------------------------
def _check_flag_value(option: str, value) -> bool:
    if isinstance(value, bool) or (isinstance(value, int) and value in (0, 1)):
        return bool(value)
    raise ArgumentError(f"{option} is on or off, so the explorer takes True or False (or 1 or 0), but got "
                        f"{value!r}; for example True.")


def _explore_reuseaddr(value) -> Tried:
    """Restart a listener on its old port, SO_REUSEADDR set to `value` on the old and the new listener."""
    on = _check_flag_value("SO_REUSEADDR", value)
    with _listener(reuse_address=on) as first:
        port = first.getsockname()[1]
        with _connect(first.getsockname()) as client:
            server_side, _ = first.accept()
            server_side.close()
            client.recv(1)
            client_address = client.getsockname()
    rows = _rows(port, client_address, until="TIME_WAIT")
    waiting = rows.of_role("server").count("TIME_WAIT")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as again:
        readback = options.set(again, "SO_REUSEADDR", on)
        try:
            again.bind((HOST, port))
            again.listen(1)
            error = None
        except OSError as exc:
            error = exc
    number = 1 if error is None else 0
    if error is None:
        sentence = (f"With SO_REUSEADDR on, the new listener took the port at once, although {waiting} old "
                    f"connection of the server still waited in TIME_WAIT there.")
    else:
        sentence = (f"With SO_REUSEADDR off, bind() failed with {_errno_name(error.errno)} ({error.strerror}): "
                    f"the server's old connection in TIME_WAIT holds the port for about 60 s on Linux.")
    return Tried("SO_REUSEADDR", value, readback, number, "restarts that could bind the old port (of 1)", sentence)


#: Connections the explorer's SO_REUSEPORT experiment makes.
EXPLORE_CONNECTIONS = 200


def _explore_reuseport(value) -> Tried:
    """Two listeners on one port, SO_REUSEPORT set to `value` on both; 200 connections to share if they can."""
    on = _check_flag_value("SO_REUSEPORT", value)
    with _listener(reuse_port=on, backlog=1024) as first:
        port = first.getsockname()[1]
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as second:
            readback = options.set(second, "SO_REUSEPORT", on)
            try:
                second.bind((HOST, port))
                second.listen(1024)
            except OSError as exc:
                return Tried("SO_REUSEPORT", value, readback, 0,
                             f"of {EXPLORE_CONNECTIONS} connections accepted by the second listener",
                             f"With SO_REUSEPORT off, the second listener could not even bind the port: "
                             f"{_errno_name(exc.errno)} ({exc.strerror}), so the first one gets every connection.")
            result = spread([first, second], EXPLORE_CONNECTIONS)
    share = result.counts[1]
    return Tried("SO_REUSEPORT", value, readback, share,
                 f"of {EXPLORE_CONNECTIONS} connections accepted by the second listener",
                 f"With SO_REUSEPORT on both, the kernel split {EXPLORE_CONNECTIONS} connections "
                 f"{result.counts[0]} to {result.counts[1]}: about half each, by a hash of each connection's "
                 f"addresses and ports.")


def _explore_linger(value) -> Tried:
    """Close a client whose data the server has not read, with SO_LINGER = `value`; count what arrives."""
    linger = _check_linger(value, "the explorer", max_seconds=EXPLORE_MAX_LINGER)
    result = linger_close(linger)
    readback = Linger(*result.readback)
    percent = round(100 * result.received / result.sent, 1)
    took = f"close() returned after {result.close_seconds:.2f} s"
    if result.ending == "ECONNRESET":
        sentence = (f"{took} and sent RST: the server read the {result.received:,} bytes already in its receive "
                    f"queue, then recv() raised ConnectionResetError; the other {result.lost:,} bytes, still in "
                    f"the client's kernel, were thrown away.")
    else:
        why = ("it waited for the data until the linger time ran out, and the kernel sent it later anyway"
               if result.linger_on and result.linger_seconds else "the kernel sends the rest in the background")
        sentence = (f"{took} ({why}): the server read all {result.received:,} bytes, then end of file "
                    f"(the FIN came after the data).")
    return Tried("SO_LINGER", value, readback, percent, "% of the bytes sent that the server read", sentence)


#: For each option of this module, one small experiment taking one value (SO_ERROR cannot be set: not here).
EXPLORE = {"SO_REUSEADDR": _explore_reuseaddr, "SO_REUSEPORT": _explore_reuseport, "SO_LINGER": _explore_linger}

#: The values the explorer offers for each option of EXPLORE.
VALUES = {"SO_REUSEADDR": [False, True], "SO_REUSEPORT": [False, True],
          "SO_LINGER": [None, Linger(True, 0), Linger(True, 1)]}
