"""A relay on loopback that gives a connection the faults loopback never has.

`link(to)` binds its own socket on loopback, forwards what a client sends it
to the server at `to`, and the server's answers back. A client that talks to
`link.address` instead of the server then meets the network the settings
describe: delay, jitter, loss, duplicates, reordering, data in small pieces,
a reset. Each direction has its own settings: "to_server" (client to server)
and "to_client" (server to client). Every piece of a stream and every
datagram is written down as a `Hop` in `link.record`; the link never prints.

What a fault means depends on the transport, because the link plays both the
network and, for TCP, the repair work TCP does on top of it:

- UDP. A lost datagram is gone. A duplicated one arrives twice. A reordered
  one is held back and sent right after the next datagram of the same client
  in the same direction (if none comes within HOLD_LIMIT seconds it goes on
  alone, late but in order). Nothing else reorders: with `reorder=0`, delay
  and jitter never let a datagram overtake an earlier one. One datagram in,
  one datagram out: boundaries are kept.
- TCP. The program at the other end never sees loss, copies or disorder,
  because TCP repairs them; what it sees is *time*. So `loss` means that one
  transmission of a piece is lost and TCP sends it again after its
  retransmission timeout (`rto`, 0.2 s unless set), doubling the timeout each
  time the retry is lost too (RFC 6298). Since TCP hands bytes over in order
  only, every piece behind the lost one waits for it, even pieces that
  "arrived" long ago: that is head-of-line blocking, and those pieces are
  recorded as "delayed". After MAX_RETRANSMITS lost retries in a row the link
  gives up on the connection, as a real TCP does, and resets it.
  `chunk` cuts the data into pieces of at most that many bytes, sent one by
  one `gap` seconds apart (5 ms unless set), so a reader that keeps up receives
  them one by one (recv() returns part of a message: framing matters); on a
  busy machine a reader may lag and get two pieces at once, and a larger gap
  helps. `reset_after` aborts
  both sides with RST (SO_LINGER 0) once that many bytes have gone through
  that direction of a connection.

One limit is worth knowing: a client's connect() completes with the link's own
kernel at once, so `delay` cannot slow the TCP handshake itself; it slows
every byte that follows (a TLS handshake included). `handshake=True` emulates
the handshake's cost instead: the link holds each new connection for one round
trip (the "to_server" delay plus the "to_client" delay, jitter left out), the
time the SYN and the SYN+ACK would have taken, before it forwards the client's
bytes, and for the "to_server" delay more before it forwards the server's (the
time the handshake's last ACK would have taken to reach the server). The
client's connect() still returns at once, but its first request reaches the
server, and the answer the client, exactly when they would after a real
handshake over a link with these delays. No SYN crosses the link: it is an
emulation, not a measurement.

The decisions are random but seeded: each direction draws from its own
`random.Random` seeded from `seed`, and a datagram always takes the same
number of draws, so the same datagrams give the same decisions on every run.
For TCP the decisions follow the pieces the link happens to read, whose sizes
depend on timing, so a run repeats exactly only if the pieces do.

When a TCP direction has no fault set, it forwards with plain recv() and
send() on sockets with TCP_NODELAY, so the link adds very little latency.
"""

from __future__ import annotations

import collections
import dataclasses
import difflib
import errno
import heapq
import itertools
import numbers
import random
import selectors
import socket
import struct
import threading
import time
from dataclasses import dataclass

from . import registry
from .errors import AddressInUseError, SockcourseError, check_loopback_host, check_port
from .recording import peer_text
from .trace import MAX_EVENTS, PREVIEW_BYTES

#: The two directions: the client's bytes travel "to_server", the answers "to_client".
DIRECTIONS = ("to_server", "to_client")

#: What the link did with a piece or datagram, and what each word means.
ACTIONS = {
    "delivered": "passed on at once, untouched",
    "delayed": "passed on late: held for the delay and jitter, or behind a retransmitted piece",
    "dropped": "lost on the way (UDP: gone for good; TCP: that transmission, which TCP repeats)",
    "retransmitted": "a lost TCP piece, passed on after the retransmission timeout",
    "duplicated": "an extra copy of a UDP datagram",
    "reordered": "a UDP datagram held back and passed on after the next one",
    "reset": "the connection was aborted with RST, by a setting or by one of its ends",
}

#: How long stop() waits for the link's threads, in seconds.
STOP_TIMEOUT = 5.0
#: How long the link tries to reach the server for each new TCP client, in seconds.
CONNECT_TIMEOUT = 3.0
#: The longest delay, jitter or rto accepted, in seconds.
MAX_DELAY = 10.0
#: Lost retries in a row after which a TCP connection is given up and reset.
MAX_RETRANSMITS = 5
#: The longest a reordered UDP datagram waits for the next one, in seconds.
HOLD_LIMIT = 0.2
#: TCP connections relayed at once; more are refused with RST.
MAX_CONNECTIONS = 128
#: UDP clients remembered at once; the one silent longest is forgotten first.
MAX_FLOWS = 64
#: Hops the record keeps (as many as a server's trace keeps events).
MAX_HOPS = MAX_EVENTS
#: Bytes one TCP direction may hold back before it stops reading from the
#: sender (whose send() then blocks, as with a full TCP window).
MAX_QUEUED_BYTES = 1 << 20
#: Datagrams the UDP side may hold back; more are dropped, as a full router queue drops them.
MAX_QUEUED_DATAGRAMS = 10_000

# Loops wake up at least this often to notice stop(), even if no wake-up arrives.
_LOOP_TICK = 0.5
_BUFFER = 65536
# Datagrams read from one socket per wake-up, so one busy client cannot starve the rest.
_BURST = 64
_LINGER_ABORT = struct.pack("ii", 1, 0)


# -- settings ------------------------------------------------------------------
@dataclass(frozen=True)
class Settings:
    """The faults of one direction; the module docstring says what each one does."""

    delay: float = 0.0
    jitter: float = 0.0
    loss: float = 0.0
    duplicate: float = 0.0
    reorder: float = 0.0
    chunk: int | None = None
    gap: float = 0.005
    reset_after: int | None = None
    rto: float = 0.2

    @property
    def faulty(self) -> bool:
        """Whether anything would make the link do more than pass data on."""
        return bool(self.delay or self.jitter or self.loss or self.duplicate or self.reorder
                    or self.chunk is not None or self.reset_after is not None)

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


# name -> (what a good value is, smallest, largest, transports, an example)
_SPECS = {
    "delay": ("a number of seconds from 0 to 10", 0.0, MAX_DELAY, ("tcp", "udp"), "delay=0.05 (50 ms)"),
    "jitter": ("a number of seconds from 0 to 10", 0.0, MAX_DELAY, ("tcp", "udp"), "jitter=0.01 (10 ms)"),
    "loss": ("a probability from 0 to 1", 0.0, 1.0, ("tcp", "udp"), "loss=0.1 (10 %)"),
    "duplicate": ("a probability from 0 to 1", 0.0, 1.0, ("udp",), "duplicate=0.1 (10 %)"),
    "reorder": ("a probability from 0 to 1", 0.0, 1.0, ("udp",), "reorder=0.1 (10 %)"),
    "chunk": ("a whole number of bytes, 1 or more, or None", 1, None, ("tcp",), "chunk=10"),
    "gap": ("a number of seconds from 0 to 1", 0.0, 1.0, ("tcp",), "gap=0.01 (10 ms)"),
    "reset_after": ("a whole number of bytes, 0 or more, or None", 0, None, ("tcp",), "reset_after=100"),
    "rto": ("a number of seconds from 0.001 to 10", 0.001, MAX_DELAY, ("tcp",), "rto=0.2 (200 ms)"),
}
_WHOLE = ("chunk", "reset_after")

# Why a setting means nothing for the other transport.
_WHY_NOT = {
    "duplicate": "TCP never hands a program the same byte twice, since the receiver uses sequence "
                 "numbers to throw copies away; use transport='udp' to see duplicates",
    "reorder": "TCP hands bytes over in the order they were sent, whatever order its segments "
               "arrive in; use transport='udp' to see reordering",
    "chunk": "a datagram arrives whole or not at all, so the link cannot cut it into pieces; "
             "use transport='tcp' to see a stream arrive in pieces",
    "gap": "it spaces out the pieces that chunk makes, and UDP has no chunks; leave it out",
    "reset_after": "UDP has no connection that could be reset; use transport='tcp'",
    "rto": "UDP never retransmits, a lost datagram is simply gone; leave rto out",
}


def _range_hint(name: str, value) -> str:
    if name in ("loss", "duplicate", "reorder") and value > 1:
        return f"a probability is a fraction, so 20 % is {name}=0.2"
    if name in ("delay", "jitter", "rto") and value > MAX_DELAY:
        return f"times are in seconds, so 100 ms is {name}=0.1"
    if name == "chunk":
        return "use chunk=None to pass data on as it comes"
    if value < 0:
        return f"use {name}=0 for none"
    return f"for example {_SPECS[name][4]}"


def check_setting(name: str, value, transport: str):
    """Return `value` as the setting `name` stores it, or raise with a sentence that explains."""
    if name not in _SPECS:
        close = difflib.get_close_matches(str(name), _SPECS, n=1)
        hint = f"did you mean {close[0]}?" if close else f"for example {_SPECS['loss'][4]}"
        raise TypeError(f"The link has no setting {name!r}; expected one of {', '.join(_SPECS)} ({hint}).")
    what, low, high, transports, example = _SPECS[name]
    if value is None and name in _WHOLE:
        return None
    wanted = numbers.Integral if name in _WHOLE else numbers.Real
    if isinstance(value, bool) or not isinstance(value, wanted):
        raise TypeError(f"The {name} must be {what}, but got {value!r} (a {type(value).__name__}); "
                        f"pass a number, for example {example}.")
    if transport not in transports and value != 0:
        raise ValueError(f"The setting {name}={value!r} means nothing on a {transport.upper()} link: "
                         f"{_WHY_NOT[name]}.")
    # Written so that NaN fails too: every comparison with NaN is false.
    if not (value >= low and (high is None or value <= high)):
        raise ValueError(f"The {name} must be {what}, but got {value!r}; {_range_hint(name, value)}.")
    return int(value) if name in _WHOLE else float(value)


def check_settings(settings: dict, transport: str) -> dict:
    """Check every setting in `settings` (all of them before any is used)."""
    return {name: check_setting(name, value, transport) for name, value in settings.items()}


def _check_directions(direction) -> tuple[str, ...]:
    if direction == "both":
        return DIRECTIONS
    if direction in DIRECTIONS:
        return (direction,)
    raise ValueError(
        f"The direction must be 'to_server' (client to server), 'to_client' (server to client) "
        f"or 'both', but got {direction!r}; for example link.set('to_server', loss=0.1)."
    )


def _check_target(to) -> tuple[str, int]:
    # A Server works as well as its address: link(server) reads naturally.
    address = getattr(to, "address", to)
    if isinstance(address, (str, bytes)) or not isinstance(address, (tuple, list)) or len(address) < 2:
        raise TypeError(
            f"The link forwards to a (host, port) pair, but got to={to!r}; pass the server's "
            f"address, for example to=server.address or to=('127.0.0.1', 5000)."
        )
    host, port = address[0], address[1]
    try:
        host = check_loopback_host(host)
    except (TypeError, ValueError):
        raise ValueError(
            f"The link forwards only to servers on this machine's loopback interface, but was asked "
            f"to forward to {host!r}; start the server with sockcourse.serve() and pass "
            f"to=server.address."
        ) from None
    port = check_port(port)
    if port == 0:
        raise ValueError(
            "The link cannot forward to port 0, which no server listens on (0 only asks the kernel "
            "to choose a port when binding); pass the server's address, for example to=server.address."
        )
    return host, port


# -- the record ------------------------------------------------------------------
@dataclass(frozen=True)
class Hop:
    """One piece (TCP) or datagram (UDP) and what the link did with it.

    `t` is seconds since the link started, taken when the piece left the link
    (or was dropped). `conn` numbers the TCP connections, or the UDP clients,
    from 1. `data` is a preview; `nbytes` the real size. `held` is how long
    the piece stayed inside the link, in seconds.
    """

    t: float
    direction: str
    conn: int
    nbytes: int
    data: bytes
    action: str
    held: float = 0.0

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


class _Record:
    """A thread-safe, bounded list of hops."""

    def __init__(self, started: float):
        self.started = started
        self.overflow = 0
        self._hops: list[Hop] = []
        self._lock = threading.Lock()

    def add(self, direction: str, conn: int, data: bytes, action: str, held: float = 0.0) -> None:
        hop = Hop(time.monotonic() - self.started, direction, conn, len(data),
                  bytes(data[:PREVIEW_BYTES]), action, max(0.0, held))
        with self._lock:
            if len(self._hops) >= MAX_HOPS:
                self.overflow += 1
            else:
                self._hops.append(hop)

    def hops(self) -> list[Hop]:
        with self._lock:
            return list(self._hops)

    def clear(self) -> None:
        with self._lock:
            self._hops.clear()
            self.overflow = 0


# -- the public entry point ------------------------------------------------------
def link(to, *, transport: str = "tcp", host: str = "127.0.0.1", port: int = 0, seed: int = 0,
         handshake: bool = False, **settings) -> "Link":
    """Start a fault-injecting relay in front of the server at `to`; return once it listens.

    to: the server's (host, port) on loopback, or the Server itself.
    transport: "tcp" or "udp", as the server speaks.
    host, port: where the link itself listens; port=0 lets the kernel choose.
    seed: makes the random decisions repeat from run to run.
    handshake: TCP only; emulate the round trip of TCP's handshake, which
        the link cannot delay (see the module docstring).
    settings: delay, jitter, loss, duplicate, reorder, chunk, gap, reset_after,
        rto; given here they apply to both directions; change them while the
        link runs with `link.set(direction, ...)`.
    """
    if transport not in ("tcp", "udp"):
        raise ValueError(f"The link relays transport 'tcp' or 'udp', but got {transport!r}; "
                         f"pass the transport the server speaks, for example transport='udp'.")
    target = _check_target(to)
    host = check_loopback_host(host)
    port = check_port(port)
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"The seed must be a whole number, but got {seed!r} (a {type(seed).__name__}); "
                        f"for example seed=1.")
    if not isinstance(handshake, bool):
        raise TypeError(f"handshake must be True or False, but got {handshake!r} (a {type(handshake).__name__}); "
                        f"for example handshake=True.")
    if handshake and transport != "tcp":
        raise ValueError("handshake=True emulates TCP's handshake, and a UDP link has none to emulate "
                         "(the datagrams of a QUIC handshake cross the link and are delayed as they are); "
                         "leave handshake out.")
    checked = check_settings(settings, transport)
    relay = Link(target, transport=transport, host=host, port=port, seed=int(seed), settings=checked,
                 handshake=handshake)
    relay._start()
    registry.add(relay)
    return relay


class Link(registry.Stoppable):
    """A running relay: its address, its settings, its record, and stop().

    Use it in a `with` block or call `stop()` when done; stop() is safe twice.
    """

    def __init__(self, target, *, transport, host, port, seed, settings, handshake=False):
        self.target = target
        self.handshake = handshake
        self.transport = transport
        self.seed = seed
        self.name = f"link-{transport}"
        self.explicit_name = None  # the registry replaces things by this name; a link has none
        self.started = time.monotonic()
        self.address = None
        self._host, self._requested_port = host, port
        self._record = _Record(self.started)
        first = Settings(**settings)
        self._settings = {direction: first for direction in DIRECTIONS}
        # A string seed is hashed with SHA-512, the same on every run and machine.
        self._rngs = {d: random.Random(f"sockcourse-link:{seed}:{d}") for d in DIRECTIONS}
        self._rng_lock = threading.Lock()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._stopped = False
        self._sock = None
        self._wake_r = self._wake_w = None
        self._thread = None
        self._connections: dict[int, _Connection] = {}
        self._numbered = 0

    # -- start -------------------------------------------------------------------
    def _start(self) -> None:
        family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
        kind = socket.SOCK_STREAM if self.transport == "tcp" else socket.SOCK_DGRAM
        try:
            self._sock = socket.socket(family, kind)
            if kind == socket.SOCK_STREAM:
                self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                self._sock.bind((self._host, self._requested_port))
            except OSError as exc:
                raise self._explain_bind_error(exc) from None
            if kind == socket.SOCK_STREAM:
                self._sock.listen(128)
            self.address = self._sock.getsockname()[:2]
            self._sock.setblocking(False)
            self._wake_r, self._wake_w = socket.socketpair()
            self._wake_r.setblocking(False)
            self._wake_w.setblocking(False)
            loop = self._accept_loop if kind == socket.SOCK_STREAM else _DatagramRelay(self).run
            self._thread = threading.Thread(target=loop, name=f"{self._thread_prefix}main", daemon=True)
            self._thread.start()
        except BaseException:
            self._close_own_sockets()
            raise

    def _explain_bind_error(self, exc: OSError) -> Exception:
        where = f"{self._host} port {self._requested_port}"
        if exc.errno == errno.EADDRINUSE:
            return AddressInUseError(f"The address {where} is already in use by another socket; "
                                     f"use port=0 to let the kernel choose a free port.")
        return OSError(f"The link could not bind a {self.transport} socket to {where}: "
                       f"{exc.strerror or exc}; use host='127.0.0.1' and port=0.")

    @property
    def _thread_prefix(self) -> str:
        return f"sockcourse-link-{self.address[1] if self.address else 0}-"

    # -- settings ----------------------------------------------------------------
    def set(self, direction: str = "both", **settings) -> dict:
        """Change settings of one direction ('to_server', 'to_client') or 'both', at once.

        Every value is checked before any is applied; returns the settings now in force.
        """
        directions = _check_directions(direction)
        checked = check_settings(settings, self.transport)
        with self._lock:
            for name in directions:
                # Swapping in a new frozen object lets the relay threads read it without a lock.
                self._settings[name] = dataclasses.replace(self._settings[name], **checked)
        return self.settings

    @property
    def settings(self) -> dict:
        """The settings in force, as {'to_server': {...}, 'to_client': {...}}."""
        return {name: self._settings[name].as_dict() for name in DIRECTIONS}

    # -- the record --------------------------------------------------------------
    @property
    def record(self) -> list[Hop]:
        """Every piece or datagram so far and what the link did with it (a new list each time)."""
        return self._record.hops()

    @property
    def record_overflow(self) -> int:
        """Hops that came after the record was full (it keeps MAX_HOPS)."""
        return self._record.overflow

    def counts(self, direction: str = "both") -> dict:
        """How many hops of each action, in one direction or both: {'delivered': 10, ...}."""
        directions = _check_directions(direction)
        totals = dict.fromkeys(ACTIONS, 0)
        for hop in self._record.hops():
            if hop.direction in directions:
                totals[hop.action] += 1
        return totals

    def count(self, action: str, direction: str = "both") -> int:
        """How many hops had `action` ('dropped', 'delivered', ...)."""
        if action not in ACTIONS:
            raise ValueError(f"Unknown action {action!r}; expected one of {', '.join(ACTIONS)} "
                             f"(for example link.count('dropped')).")
        return self.counts(direction)[action]

    def rows(self, *, times: bool = True) -> list[dict]:
        """The record as a list of dicts, ready for a table."""
        rows = [hop.as_dict() for hop in self._record.hops()]
        if not times:
            for row in rows:
                del row["t"], row["held"]
        return rows

    def clear_record(self) -> None:
        """Forget the hops so far (the settings stay)."""
        self._record.clear()

    # -- TCP -----------------------------------------------------------------------
    def _accept_loop(self) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(self._sock, selectors.EVENT_READ)
            selector.register(self._wake_r, selectors.EVENT_READ)
            while not self._stopping.is_set():
                ready = [key.fileobj for key, _ in selector.select(timeout=_LOOP_TICK)]
                if self._wake_r in ready or self._stopping.is_set():
                    return
                if not ready:
                    continue
                try:
                    client, _ = self._sock.accept()
                except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                    continue
                except OSError:
                    if self._stopping.is_set():
                        return
                    time.sleep(0.05)  # out of descriptors, say: breathe, then try again
                    continue
                self._take(client)

    def _take(self, client: socket.socket) -> None:
        with self._lock:
            self._numbered += 1
            number = self._numbered
            full = len(self._connections) >= MAX_CONNECTIONS
            if not full:
                connection = self._connections[number] = _Connection(self, number, client)
        if full:
            _abort_now(client)
            self._record.add("to_client", number, b"", "reset")
            return
        connection.start()

    def _forget(self, number: int) -> None:
        with self._lock:
            self._connections.pop(number, None)

    def _plan(self, pipe: "_Pipe", s: Settings, data: bytes) -> list:
        """Decide the fate of bytes read in one TCP direction: what leaves when."""
        now = time.monotonic()
        items = []
        reset = False
        if s.reset_after is not None:
            room = max(0, s.reset_after - pipe.forwarded)
            if len(data) >= room:
                data, reset = data[:room], True
        pipe.forwarded += len(data)
        size = s.chunk or max(1, len(data))
        with self._rng_lock:
            rng = self._rngs[pipe.direction]
            for start in range(0, len(data), size):
                piece = data[start:start + size]
                wait = s.delay + rng.random() * s.jitter
                lost = 0
                while lost <= MAX_RETRANSMITS and rng.random() < s.loss:
                    lost += 1
                for _ in range(lost):
                    self._record.add(pipe.direction, pipe.conn.number, piece, "dropped")
                # Retry k waits rto * 2**k: the sum of the first `lost` of them.
                earliest = now + wait + s.rto * (2 ** lost - 1)
                if s.chunk is not None:
                    earliest = max(earliest, pipe.last_due + s.gap)
                due = max(earliest, pipe.last_due)
                pipe.last_due = due
                if lost > MAX_RETRANSMITS:
                    # Every retry lost: TCP gives up and the connection dies.
                    items.append(_Item(due, "reset"))
                    return items
                if lost:
                    action = "retransmitted"
                    pipe.hol_until = max(pipe.hol_until, due)
                elif wait > 0 or earliest < pipe.hol_until:
                    action = "delayed"
                else:
                    action = "delivered"
                items.append(_Item(due, "data", piece, action, now))
        if reset:
            items.append(_Item(max(now, pipe.last_due), "reset"))
        return items

    # -- stop ----------------------------------------------------------------------
    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Stop relaying, end every connection (FIN to both ends), close everything, and wait.

        Safe to call twice. Data still held inside the link is thrown away.
        """
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        self._stopping.set()
        deadline = time.monotonic() + timeout
        late = []
        try:
            try:
                self._wake_w.send(b"x")
            except OSError:
                pass
            if self._thread is not None:
                self._thread.join(max(0.0, deadline - time.monotonic()))
                if self._thread.is_alive():
                    late.append(self._thread.name)
            with self._lock:
                connections = list(self._connections.values())
            for connection in connections:
                connection.shut()
            for connection in connections:
                for thread in connection.thread_list():
                    thread.join(max(0.0, deadline - time.monotonic()))
                    if thread.is_alive():
                        late.append(thread.name)
            for connection in connections:
                connection.close()
        finally:
            self._close_own_sockets()
            registry.discard(self)
        if late:
            raise SockcourseError(
                f"The link stopped, but {len(late)} of its threads were still busy {timeout} s later "
                f"({', '.join(late)}); that is a bug in sockcourse.link: please report it with "
                f"the settings you used."
            )

    def _close_own_sockets(self) -> None:
        for sock in (self._sock, self._wake_r, self._wake_w):
            if sock is not None:
                try:
                    sock.close()
                except OSError:
                    pass

    # -- conveniences ------------------------------------------------------------
    @property
    def running(self) -> bool:
        return not self._stopped

    @property
    def host(self) -> str:
        return self.address[0]

    @property
    def port(self) -> int:
        return self.address[1]

    @property
    def connections(self) -> int:
        """TCP connections (or UDP clients) the link has relayed so far."""
        return self._numbered

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        where = peer_text(self.address) if self.address else "(not bound)"
        default = Settings()
        parts = []
        for direction, settings in self._settings.items():
            changed = [f"{name}={value}" for name, value in settings.as_dict().items()
                       if value != getattr(default, name)]
            parts.append(f"{direction}: {', '.join(changed) or 'no faults'}")
        return f"<Link {self.transport} {where} -> {peer_text(self.target)} {state} ({'; '.join(parts)})>"


# -- one TCP connection ----------------------------------------------------------
@dataclass
class _Item:
    """Something a TCP writer does at time `due`: send data, pass on a FIN, or reset."""

    due: float
    kind: str  # "data", "eof" or "reset"
    data: bytes = b""
    action: str = ""
    received: float = 0.0


def _abort_now(sock: socket.socket) -> None:
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_ABORT)
    except OSError:
        pass
    sock.close()


def _discard_unread(sock: socket.socket) -> None:
    """Read away bytes that will never be forwarded, so that close() sends FIN.

    Closing a TCP socket with unread data sends RST instead (RFC 2525,
    section 2.17), and a stopped link should end its connections politely.
    """
    for _ in range(64):  # at most 4 MiB: a stop must not wait for a flood
        try:
            if not sock.recv(65536, socket.MSG_DONTWAIT):
                return
        except OSError:  # BlockingIOError: nothing left; anything else: nothing to save
            return


class _Connection:
    """One client's connection through the link: two sockets and four threads.

    The sockets are closed by whichever of the threads ends last, so no
    thread ever uses a socket another one has closed.
    """

    def __init__(self, link: Link, number: int, client: socket.socket):
        self.link = link
        self.number = number
        self.client = client
        self.server = None
        self.pipes: dict[str, _Pipe] = {}
        self.lock = threading.Lock()
        self.closing = False  # stop(): end quietly
        self.aborted = False  # a reset: end with RST both ways
        self.accepted = time.monotonic()
        self._threads: list[threading.Thread] = []
        self._live = 0
        self._closed = False

    @property
    def ending(self) -> bool:
        return self.closing or self.aborted

    def start(self) -> None:
        self._spawn(self._run, "to_server-reader")

    def _spawn(self, target, label: str) -> None:
        def body():
            try:
                target()
            finally:
                self._thread_done()

        thread = threading.Thread(target=body, name=f"{self.link._thread_prefix}{self.number}-{label}",
                                  daemon=True)
        with self.lock:
            if self.ending and self._threads:
                return
            self._live += 1
            self._threads.append(thread)
        try:
            thread.start()
        except BaseException:
            self._thread_done()
            raise

    def thread_list(self) -> list[threading.Thread]:
        with self.lock:
            return list(self._threads)

    def _run(self) -> None:
        hold_answers = 0.0
        if self.link.handshake:
            up = self.link._settings["to_server"].delay
            down = self.link._settings["to_client"].delay
            # The SYN and SYN+ACK's round trip: only then may a real client send.
            if self.link._stopping.wait(max(0.0, self.accepted + up + down - time.monotonic())):
                return
            hold_answers = up  # the last ACK's way to the server
        try:
            server = socket.create_connection(self.link.target, timeout=CONNECT_TIMEOUT)
        except OSError:
            # Nobody to talk to: the client hears a reset, the nearest thing to "refused".
            with self.lock:
                self.aborted = True
            self.link._record.add("to_client", self.number, b"", "reset")
            return
        with self.lock:
            if self.closing:
                server.close()
                return
            self.server = server
        for sock in (self.client, server):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            # A timeout bounds every wait, so the loops notice stop() even if nothing wakes them.
            sock.settimeout(_LOOP_TICK)
        self.pipes = {"to_server": _Pipe(self, "to_server", self.client, server),
                      "to_client": _Pipe(self, "to_client", server, self.client)}
        self._spawn(self.pipes["to_server"].write_loop, "to_server-writer")
        self._spawn(self.pipes["to_client"].write_loop, "to_client-writer")
        self._spawn(self._after(hold_answers, self.pipes["to_client"]), "to_client-reader")
        self.pipes["to_server"].read_loop()

    def _after(self, seconds: float, pipe: "_Pipe"):
        """The pipe's read loop, started `seconds` from now (at once if 0), unless the link stops first."""
        if seconds <= 0:
            return pipe.read_loop

        def later():
            if not self.link._stopping.wait(seconds):
                pipe.read_loop()
                return
            with pipe.cond:  # the pipe's writer waits until its reader has finished
                pipe.finished = True
                pipe.cond.notify_all()
        return later

    def abort(self, direction: str) -> None:
        """Reset the connection: both ends get RST once the threads have let go."""
        with self.lock:
            if self.ending:
                return
            self.aborted = True
            sockets = [s for s in (self.client, self.server) if s is not None]
        self.link._record.add(direction, self.number, b"", "reset")
        for sock in sockets:
            try:
                # SHUT_RD wakes a thread blocked in recv() and, unlike SHUT_WR,
                # sends nothing: the first packet the ends see is the RST of close().
                sock.shutdown(socket.SHUT_RD)
            except OSError:
                pass
        self._wake_writers()

    def shut(self) -> None:
        """End the connection for stop(): both ends get a FIN."""
        with self.lock:
            self.closing = True
            sockets = [s for s in (self.client, self.server) if s is not None]
        for sock in sockets:
            # Unread bytes first: once the socket is shut for reading they stay
            # queued, and the close that follows would send RST instead of FIN.
            _discard_unread(sock)
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._wake_writers()

    def _wake_writers(self) -> None:
        for pipe in list(self.pipes.values()):
            with pipe.cond:
                pipe.cond.notify_all()

    def _thread_done(self) -> None:
        with self.lock:
            self._live -= 1
            last = self._live == 0
        if last:
            self.close()

    def close(self) -> None:
        with self.lock:
            if self._closed:
                return
            self._closed = True
            sockets = [s for s in (self.client, self.server) if s is not None]
            aborted = self.aborted
        for sock in sockets:
            try:
                if aborted:
                    _abort_now(sock)
                else:
                    _discard_unread(sock)
                    sock.close()
            except OSError:
                pass
        self.link._forget(self.number)


class _Pipe:
    """One direction of one connection: a reader that decides, a writer that delivers on time."""

    def __init__(self, conn: _Connection, direction: str, src: socket.socket, dst: socket.socket):
        self.conn = conn
        self.link = conn.link
        self.direction = direction
        self.src, self.dst = src, dst
        self.queue: collections.deque[_Item] = collections.deque()
        self.cond = threading.Condition()
        self.pending = 0  # items queued or being sent; only the reader adds
        self.queued_bytes = 0
        self.forwarded = 0
        self.last_due = 0.0
        self.hol_until = 0.0
        self.finished = False

    def read_loop(self) -> None:
        conn, link = self.conn, self.link
        try:
            while not conn.ending:
                settings = link._settings[self.direction]
                if settings.faulty and not self._room_to_read():
                    continue
                # Chunked data becomes one queued item per piece: read few pieces at a time.
                size = _BUFFER if settings.chunk is None else min(_BUFFER, settings.chunk * 64)
                try:
                    data = self.src.recv(size)
                except TimeoutError:
                    continue
                except OSError:
                    if not conn.ending:
                        conn.abort(self.direction)  # the sender reset: pass it on
                    return
                if conn.ending:
                    return
                if not data:
                    self._enqueue([_Item(time.monotonic(), "eof")])
                    return
                settings = link._settings[self.direction]  # it may have changed during recv()
                # The fast path: nothing to decide and nothing queued that must go first.
                if not settings.faulty and self.pending == 0:
                    if not self._send(data):
                        return
                    link._record.add(self.direction, conn.number, data, "delivered")
                    continue
                items = link._plan(self, settings, data)
                self._enqueue(items)
                if items and items[-1].kind == "reset":
                    return  # what comes after the reset is never delivered
        finally:
            with self.cond:
                self.finished = True
                self.cond.notify_all()

    def _room_to_read(self) -> bool:
        """Wait (one tick at most) until the queue has room; whether it has."""
        with self.cond:
            if self.queued_bytes >= MAX_QUEUED_BYTES:
                self.cond.wait(_LOOP_TICK)
            return self.queued_bytes < MAX_QUEUED_BYTES

    def _enqueue(self, items: list) -> None:
        with self.cond:
            self.queue.extend(items)
            self.pending += len(items)
            self.queued_bytes += sum(len(item.data) for item in items)
            self.cond.notify_all()

    def write_loop(self) -> None:
        conn = self.conn
        while True:
            with self.cond:
                while not conn.ending:
                    if self.queue:
                        wait = self.queue[0].due - time.monotonic()
                        if wait <= 0:
                            break
                        self.cond.wait(min(wait, _LOOP_TICK))
                    elif self.finished:
                        return
                    else:
                        self.cond.wait(_LOOP_TICK)
                if conn.ending:
                    return
                item = self.queue.popleft()
            if item.kind == "data":
                sent = self._send(item.data)
                if sent:
                    self.link._record.add(self.direction, conn.number, item.data, item.action,
                                          time.monotonic() - item.received)
                with self.cond:
                    self.pending -= 1
                    self.queued_bytes -= len(item.data)
                    self.cond.notify_all()  # the reader may be waiting for room
                if not sent:
                    return
            elif item.kind == "eof":
                try:
                    self.dst.shutdown(socket.SHUT_WR)  # pass the FIN on, after all the data
                except OSError:
                    pass
                with self.cond:
                    self.pending -= 1
                return
            else:
                conn.abort(self.direction)
                return

    def _send(self, data: bytes) -> bool:
        """Send all of `data` unless the connection ends first; False if it did."""
        view = memoryview(data)
        while view:
            if self.conn.ending:
                return False
            try:
                view = view[self.dst.send(view):]
            except TimeoutError:
                continue  # the receiver is slow; check for the end, then keep trying
            except OSError:
                if not self.conn.ending:
                    # The receiver reset: pass it back the way the data came.
                    other = "to_client" if self.direction == "to_server" else "to_server"
                    self.conn.abort(other)
                return False
        return True


# -- UDP ---------------------------------------------------------------------------
class _Flow:
    """One UDP client: its address and the socket that speaks for it to the server."""

    def __init__(self, number: int, client, sock: socket.socket):
        self.number = number
        self.client = client
        self.sock = sock
        self.closed = False
        self.last_due = dict.fromkeys(DIRECTIONS, 0.0)
        self.held: dict = dict.fromkeys(DIRECTIONS)  # direction -> (data, received, copies, deadline)


class _DatagramRelay:
    """The UDP side of a link: one thread, one selector, one heap of datagrams due."""

    def __init__(self, link: Link):
        self.link = link
        self.front = link._sock
        self.flows: collections.OrderedDict = collections.OrderedDict()
        self.heap: list = []
        self.order = itertools.count()
        self.selector = None
        self.target_family = socket.AF_INET6 if ":" in link.target[0] else socket.AF_INET

    def run(self) -> None:
        link = self.link
        try:
            with selectors.DefaultSelector() as self.selector:
                self.selector.register(self.front, selectors.EVENT_READ)
                self.selector.register(link._wake_r, selectors.EVENT_READ, "wake")
                while not link._stopping.is_set():
                    for key, _ in self.selector.select(timeout=self._timeout()):
                        if key.data == "wake":
                            return
                        if key.data is None:
                            self._from_clients()
                        else:
                            self._from_server(key.data)
                    now = time.monotonic()
                    self._release_expired_holds(now)
                    self._send_due(now)
        finally:
            for flow in self.flows.values():
                flow.closed = True
                flow.sock.close()
            self.flows.clear()

    def _timeout(self) -> float:
        soonest = self.heap[0][0] if self.heap else None
        for flow in self.flows.values():
            for held in flow.held.values():
                if held is not None and (soonest is None or held[3] < soonest):
                    soonest = held[3]
        if soonest is None:
            return _LOOP_TICK
        return min(_LOOP_TICK, max(0.0, soonest - time.monotonic()))

    def _from_clients(self) -> None:
        for _ in range(_BURST):
            try:
                data, client = self.front.recvfrom(_BUFFER)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                continue  # an ICMP error about an earlier datagram to a client that left
            flow = self._flow(client)
            if flow is not None:
                self._route("to_server", flow, data)

    def _from_server(self, flow: _Flow) -> None:
        for _ in range(_BURST):
            try:
                data = flow.sock.recv(_BUFFER)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                continue  # "port unreachable" for an earlier datagram: no server there
            self._route("to_client", flow, data)

    def _flow(self, client) -> _Flow | None:
        flow = self.flows.get(client)
        if flow is not None:
            self.flows.move_to_end(client)
            return flow
        if len(self.flows) >= MAX_FLOWS:
            _, oldest = self.flows.popitem(last=False)
            oldest.closed = True
            self.selector.unregister(oldest.sock)
            oldest.sock.close()
        sock = socket.socket(self.target_family, socket.SOCK_DGRAM)
        try:
            # Connected: the kernel passes on only the server's datagrams, and each
            # client gets its own port, so answers find their way back.
            sock.connect(self.link.target)
            sock.setblocking(False)
        except OSError:
            sock.close()
            return None
        with self.link._lock:
            self.link._numbered += 1
            number = self.link._numbered
        flow = self.flows[client] = _Flow(number, client, sock)
        self.selector.register(sock, selectors.EVENT_READ, flow)
        return flow

    def _route(self, direction: str, flow: _Flow, data: bytes) -> None:
        link = self.link
        s = link._settings[direction]
        now = time.monotonic()
        with link._rng_lock:
            rng = link._rngs[direction]
            # Always four draws, so one datagram's fate never shifts the next one's.
            lose, copy, hold, jitter = rng.random(), rng.random(), rng.random(), rng.random()
        if lose < s.loss:
            link._record.add(direction, flow.number, data, "dropped")
            return
        copies = 2 if copy < s.duplicate else 1
        wait = s.delay + jitter * s.jitter
        held = flow.held[direction]
        if held is None and hold < s.reorder:
            flow.held[direction] = (data, now, copies, now + wait + HOLD_LIMIT)
            return
        due = max(now + wait, flow.last_due[direction])
        self._push(due, direction, flow, data, "delayed" if wait > 0 else "delivered", now, copies)
        if held is not None:
            flow.held[direction] = None
            self._push(due, direction, flow, held[0], "reordered", held[1], held[2])
        flow.last_due[direction] = due

    def _release_expired_holds(self, now: float) -> None:
        for flow in self.flows.values():
            for direction, held in flow.held.items():
                if held is not None and held[3] <= now:
                    flow.held[direction] = None
                    due = max(held[3], flow.last_due[direction])
                    self._push(due, direction, flow, held[0], "delayed", held[1], held[2])
                    flow.last_due[direction] = due

    def _push(self, due, direction, flow, data, action, received, copies) -> None:
        if len(self.heap) >= MAX_QUEUED_DATAGRAMS:
            self.link._record.add(direction, flow.number, data, "dropped")
            return
        heapq.heappush(self.heap, (due, next(self.order), direction, flow, data, action, received))
        if copies > 1:
            heapq.heappush(self.heap, (due, next(self.order), direction, flow, data, "duplicated", received))

    def _send_due(self, now: float) -> None:
        record = self.link._record
        while self.heap and self.heap[0][0] <= now:
            _, _, direction, flow, data, action, received = heapq.heappop(self.heap)
            if flow.closed:
                continue
            try:
                if direction == "to_server":
                    flow.sock.send(data)
                else:
                    self.front.sendto(data, flow.client)
            except OSError:
                # A full buffer or an ICMP error: the datagram is lost, as UDP loses it.
                record.add(direction, flow.number, data, "dropped")
                continue
            record.add(direction, flow.number, data, action, time.monotonic() - received)
