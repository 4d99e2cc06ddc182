"""`link()` and the `Link` handle: start, change settings, read the record, stop."""

from __future__ import annotations

import dataclasses
import numbers
import random
import selectors
import socket
import threading
import time

from ..core import lifecycle as registry
from ..core.errors import SockcourseError
from ..core.checks import check_loopback_host, check_port
from ..core.binding import open_socket
from ..core.addresses import peer_text
from .limits import ACTIONS, DIRECTIONS, MAX_CONNECTIONS, MAX_RETRANSMITS, STOP_TIMEOUT, _LOOP_TICK
from .record import Hop, _Record
from .settings import Settings, _check_directions, _check_target, check_settings
from .tcp import _Connection, _Item, _Pipe, _abort_now
from .udp import _DatagramRelay


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
            bound = open_socket(family, kind, host=self._host, port=self._requested_port, what="link")
            self._sock, self.address = bound.sock, bound.address
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


