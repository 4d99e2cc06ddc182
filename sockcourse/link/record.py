"""What crossed the link: one Hop for each piece or datagram, kept as plain data, and the line that sums it up."""

from __future__ import annotations

import dataclasses
import threading
import time
from dataclasses import dataclass

from ..core.trace import PREVIEW_BYTES
from .limits import ACTIONS, MAX_HOPS


@dataclass(frozen=True)
class Hop:
    """One piece (TCP) or datagram (UDP) and what the link did with it.

    `t` is seconds since the link started, taken when the piece left the link
    (or was dropped). `conn` numbers the TCP connections, or the UDP clients,
    from 1. `data` is a preview; `nbytes` the real size. `held` is how long
    the piece stayed inside the link, in seconds. `why` is "" when the
    settings decided what happened, or a word of `sockcourse.link.REASONS`
    ("cap": a limit of the link itself refused a connection or dropped a datagram).
    """

    t: float
    direction: str
    conn: int
    nbytes: int
    data: bytes
    action: str
    held: float = 0.0
    why: str = ""

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


class Record:
    """A thread-safe, bounded list of hops."""

    def __init__(self, started: float):
        self.started = started
        self.overflow = 0
        self._hops: list[Hop] = []
        self._lock = threading.Lock()

    def add(self, direction: str, conn: int, data: bytes, action: str, held: float = 0.0, why: str = "") -> None:
        hop = Hop(time.monotonic() - self.started, direction, conn, len(data),
                  bytes(data[:PREVIEW_BYTES]), action, max(0.0, held), why)
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


def summary(counts: dict) -> str:
    """What the link did, in words, from `link.counts()`: '35 delivered, 3 dropped, 2 duplicated'.

    Actions come in the order of ACTIONS, and those that never happened are
    left out; a link nothing crossed says so.
    """
    done = [f"{counts[action]} {action}" for action in ACTIONS if counts.get(action)]
    return ", ".join(done) or "nothing has passed through it"
