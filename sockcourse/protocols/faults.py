"""The link's fault decisions as pure functions: what becomes of a piece of a stream, or of a datagram.

Nothing here touches a socket, a thread or a clock. The caller passes the
settings of one direction, that direction's seeded `random.Random`, what the
direction remembers (`PipeState`) and the time `now`; it gets back plain
data that says what leaves when. The link (`sockcourse.link`) then does it.
Because the arithmetic stands alone, it can be read and tested exactly:

- A TCP stream (`plan_pieces`). The data is cut into pieces of `chunk`
  bytes, each piece waits `delay` plus a random share of `jitter`, and a
  chunked piece leaves `gap` seconds after the one before it. `loss` loses
  one *transmission* of a piece: TCP sends it again after its
  retransmission timeout, which doubles after each loss (RFC 6298, section
  5.5), so the k-th retry of a piece leaves `rto * (2**k - 1)` seconds after
  its first try. A piece never overtakes one sent before it, because TCP
  hands bytes over in order only: everything behind a retransmitted piece
  waits for it (head-of-line blocking) and is "delayed". After
  MAX_RETRANSMITS lost retries in a row TCP gives up and resets the
  connection, and `reset_after` resets it once that many bytes have gone
  through.
- A datagram (`datagram_fate`): lost, copied, held back for reordering, and
  how long it waits.

The settings are taken by their shape (attributes `delay`, `jitter`,
`loss`, `duplicate`, `reorder`, `chunk`, `gap`, `reset_after`, `rto`), as
`sockcourse.link.Settings` has them, so this layer needs nothing above it.
Every decision draws from the rng in a fixed order (a datagram always takes
exactly four draws), so the same seed and the same data give the same fates.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Lost retries in a row after which TCP gives a connection up and resets it.
MAX_RETRANSMITS = 5

#: Draws `datagram_fate` takes for every datagram, whatever its fate.
DATAGRAM_DRAWS = 4


@dataclass
class Item:
    """Something the link does at time `due` in one TCP direction.

    kind: "data" (pass `data` on, recorded as `action`), "lost" (one
    transmission of `data` that the network lost; `due` is when it would
    have arrived, and the link records it at once), "eof" (pass the FIN on)
    or "reset" (abort the connection; `why` is "retries" when TCP gave up).
    `received` is when the link read the bytes.
    """

    due: float
    kind: str
    data: bytes = b""
    action: str = ""
    received: float = 0.0
    why: str = ""


@dataclass
class PipeState:
    """What one TCP direction remembers between two reads."""

    forwarded: int = 0      # bytes planned so far, for reset_after
    last_due: float = 0.0   # when the latest piece leaves: nothing may leave before it
    hol_until: float = 0.0  # when the latest retransmitted piece leaves: what arrives earlier waits


def retry_wait(rto: float, lost: int) -> float:
    """Seconds from a piece's first try to the try after `lost` losses: rto + 2 rto + 4 rto + ..."""
    return rto * (2 ** lost - 1)


def plan_pieces(settings, rng, state: PipeState, data: bytes, now: float, *,
                max_retransmits: int = MAX_RETRANSMITS) -> list[Item]:
    """Decide what becomes of `data`, read at `now` in one TCP direction; advances `state`.

    Returns the items in the order they were decided: for each piece its
    lost transmissions, then the piece itself; a "reset" last if the
    connection is to end. Each piece draws once for jitter, then once per
    transmission for loss (at most max_retransmits + 1 times).
    """
    items: list[Item] = []
    reset = False
    if settings.reset_after is not None:
        room = max(0, settings.reset_after - state.forwarded)
        if len(data) >= room:
            data, reset = data[:room], True
    state.forwarded += len(data)
    size = settings.chunk or max(1, len(data))
    for start in range(0, len(data), size):
        piece = data[start:start + size]
        wait = settings.delay + rng.random() * settings.jitter
        lost = 0
        while lost <= max_retransmits and rng.random() < settings.loss:
            lost += 1
        for tries in range(lost):
            items.append(Item(now + wait + retry_wait(settings.rto, tries), "lost", piece, "dropped", now))
        arrival = now + wait + retry_wait(settings.rto, lost)  # when its last try gets through
        earliest = arrival
        if settings.chunk is not None:
            earliest = max(earliest, state.last_due + settings.gap)
        due = max(earliest, state.last_due)
        state.last_due = due
        if lost > max_retransmits:
            # Every retry lost: TCP gives up, and nothing after this piece is planned.
            items.append(Item(due, "reset", why="retries"))
            return items
        if lost:
            action = "retransmitted"
            state.hol_until = max(state.hol_until, due)
        elif wait > 0 or arrival < state.hol_until:
            # Compared without the gap: a piece spaced out behind a retransmitted one still waited for it.
            action = "delayed"
        else:
            action = "delivered"
        items.append(Item(due, "data", piece, action, now))
    if reset:
        items.append(Item(max(now, state.last_due), "reset"))
    return items


@dataclass(frozen=True)
class Fate:
    """What becomes of one datagram: lost, or passed on `copies` times after `wait` seconds.

    `held_back` asks that it be held back and sent after the next datagram
    (reordering); the link honours it only when it holds no other one.
    """

    lost: bool
    copies: int
    held_back: bool
    wait: float


def datagram_fate(settings, rng) -> Fate:
    """Decide one datagram's fate with exactly DATAGRAM_DRAWS draws, so it never shifts the next one's."""
    lose, copy, hold, jitter = rng.random(), rng.random(), rng.random(), rng.random()
    return Fate(lost=lose < settings.loss, copies=2 if copy < settings.duplicate else 1,
                held_back=hold < settings.reorder, wait=settings.delay + jitter * settings.jitter)
