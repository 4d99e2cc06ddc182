"""`link()` and the `Link` handle: start, change settings, read the record, stop."""

from __future__ import annotations

import dataclasses
import random
import socket
import threading
import time

from ..core.addresses import family_for, peer_text
from ..core.binding import open_socket
from ..core.checks import check_choice, check_flag, check_loopback_host, check_port, check_target, check_whole
from ..core.errors import ArgumentError, CourseBugError, SockcourseError, describe
from ..core.lifecycle import Endpoint
from .limits import ACTIONS, DIRECTIONS
from .record import Hop, Record
from .settings import Settings, check_directions, check_settings
from .shared import Shared
from .tcp import StreamRelay
from .udp import DatagramRelay


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

    The link has two limits of its own, whatever the settings. It relays at
    most MAX_CONNECTIONS (128) TCP connections at once: a client beyond them
    is refused with RST, recorded as a "reset" hop with why="cap". It
    remembers at most MAX_FLOWS (64) UDP clients: a new one beyond them makes
    it forget the client silent longest, and the datagrams it still held or
    had received for that client are dropped ("dropped" hops, why="cap"); an
    answer the server sends to a forgotten client after that is turned away
    by the kernel, unseen, and the client's next datagram makes it a new
    client with a new number.
    """
    check_choice(transport, "transport", ("tcp", "udp"), example="udp")
    target = check_target(to)
    host = check_loopback_host(host)
    port = check_port(port)
    seed = check_whole(seed, "seed", example=1)
    handshake = check_flag(handshake, "handshake")
    if handshake and transport != "tcp":
        raise ArgumentError("The setting handshake=True emulates TCP's handshake, and a UDP link has none to emulate "
                            "(the datagrams of a QUIC handshake cross the link and are delayed as they are); "
                            "leave handshake out.")
    checked = check_settings(settings, transport)
    relay = Link(target, transport=transport, host=host, port=port, seed=seed, settings=checked,
                 handshake=handshake)
    return relay._launch()


class Link(Endpoint):
    """A running relay: its address, its settings, its record, and stop(). No public constructor: use `link()`.

    For the caller: `address` (with `host`, `port`), `target`, `set()`,
    `settings`, `record`, `counts()`, `count()`, `rows()`, `clear_record()`,
    `connections`, `open_connections`, `running` and `stop()`. Use it in a
    `with` block or call `stop()` when done; stop() is safe twice. stop()
    ends every TCP connection with a FIN to both ends, throws away the data
    still held inside the link, and closes everything within its timeout.
    """

    what = "link"

    def __init__(self, target, *, transport, host, port, seed, settings, handshake=False):
        super().__init__(f"link-{transport}")
        self.target = target
        self.handshake = handshake
        self.transport = transport
        self.seed = seed
        self.started = time.monotonic()
        self._host, self._requested_port = host, port
        first = Settings(**settings)
        self._shared = Shared(
            target=target, handshake=handshake, record=Record(self.started),
            settings={direction: first for direction in DIRECTIONS},
            # A string seed is hashed with SHA-512, the same on every run and machine.
            rngs={d: random.Random(f"sockcourse-link:{seed}:{d}") for d in DIRECTIONS},
            adopt_thread=self._adopt_thread)
        self._set_lock = threading.Lock()
        self._sock = self._wake_r = self._wake_w = None
        self._half: StreamRelay | DatagramRelay | None = None
        self._thread: threading.Thread | None = None

    # -- the lifecycle -----------------------------------------------------------
    def _start(self) -> None:
        kind = socket.SOCK_STREAM if self.transport == "tcp" else socket.SOCK_DGRAM
        bound = open_socket(family_for(self._host), kind, host=self._host, port=self._requested_port, what="link")
        self._sock, self.address = bound.sock, bound.address
        self._sock.setblocking(False)
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._shared.thread_prefix = f"sockcourse-link-{self.port}-"
        half = StreamRelay if kind == socket.SOCK_STREAM else DatagramRelay
        self._half = half(self._shared, self._sock, self._wake_r)
        self._thread = self._spawn(self._half.run, f"{self._shared.thread_prefix}main")

    def _stop(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        self._shared.stopping.set()
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass  # the loop notices `stopping` within a tick anyway
        late = self._join_all([self._thread], deadline)
        if isinstance(self._half, StreamRelay):
            late += self._join_all(self._half.shut_all(deadline), deadline)
        if late:
            raise CourseBugError(
                f"The link stopped, but {len(late)} of its threads were still busy {timeout} s later "
                f"({', '.join(late[:5])}{', ...' if len(late) > 5 else ''}); that is a bug in sockcourse.link: "
                f"please report it with the settings you used.")
        error = self._half.error if self._half is not None else None
        if error is not None:
            raise SockcourseError(
                f"The link stopped taking new connections early, because accept() failed with "
                f"{describe(error)}; the connections it had were relayed until stop(), and a new link takes new ones.") \
                from error

    def _close(self) -> None:
        if self._half is not None:
            self._half.close()
        for sock in (self._sock, self._wake_r, self._wake_w):
            if sock is not None:
                try:
                    sock.close()
                except OSError:
                    pass

    # -- settings ----------------------------------------------------------------
    def set(self, direction: str = "both", **settings) -> dict:
        """Change settings of one direction ('to_server', 'to_client') or 'both', at once.

        Every value is checked before any is applied; returns the settings now in force.
        """
        directions = check_directions(direction)
        checked = check_settings(settings, self.transport)
        with self._set_lock:
            for name in directions:
                # Swapping in a new frozen object lets the relay threads read it without a lock.
                self._shared.settings[name] = dataclasses.replace(self._shared.settings[name], **checked)
        return self.settings

    @property
    def settings(self) -> dict:
        """The settings in force, as {'to_server': {...}, 'to_client': {...}}."""
        return {name: self._shared.settings[name].as_dict() for name in DIRECTIONS}

    # -- the record --------------------------------------------------------------
    @property
    def record(self) -> list[Hop]:
        """Every piece or datagram so far and what the link did with it (a new list each time)."""
        return self._shared.record.hops()

    @property
    def record_overflow(self) -> int:
        """Hops that came after the record was full (it keeps MAX_HOPS)."""
        return self._shared.record.overflow

    def counts(self, direction: str = "both") -> dict:
        """How many hops of each action, in one direction or both: {'delivered': 10, ...}."""
        directions = check_directions(direction)
        totals = dict.fromkeys(ACTIONS, 0)
        for hop in self._shared.record.hops():
            if hop.direction in directions:
                totals[hop.action] += 1
        return totals

    def count(self, action: str, direction: str = "both") -> int:
        """How many hops had `action` ('dropped', 'delivered', ...)."""
        check_choice(action, "action", ACTIONS, example="dropped")
        return self.counts(direction)[action]

    def rows(self, *, times: bool = True) -> list[dict]:
        """The record as a list of dicts, ready for a table."""
        rows = [hop.as_dict() for hop in self._shared.record.hops()]
        if not times:
            for row in rows:
                del row["t"], row["held"]
        return rows

    def clear_record(self) -> None:
        """Forget the hops so far (the settings stay)."""
        self._shared.record.clear()

    # -- conveniences ------------------------------------------------------------
    @property
    def connections(self) -> int:
        """TCP connections (or UDP clients) the link has relayed so far."""
        return self._shared.numbered

    @property
    def open_connections(self) -> int:
        """TCP connections relayed now (at most MAX_CONNECTIONS), or UDP clients remembered (at most MAX_FLOWS)."""
        return self._half.open_connections if self._half is not None and self.running else 0

    def _where(self) -> str:
        return f"{super()._where()} -> {peer_text(self.target)}"

    def _more(self) -> str:
        default = Settings()
        parts = []
        for direction, settings in self._shared.settings.items():
            changed = [f"{name}={value}" for name, value in settings.as_dict().items()
                       if value != getattr(default, name)]
            parts.append(f"{direction}: {', '.join(changed) or 'no faults'}")
        return f" ({'; '.join(parts)})"
