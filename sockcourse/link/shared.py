"""What the two halves of a link (tcp, udp) share with the handle, instead of the handle itself.

The handle (`relay.Link`) makes one `Shared` and gives it to the half it
runs; the halves read the settings, draw decisions, write the record and
number their clients through it, and never see the Link. So the arrows
point one way: relay imports tcp and udp, and they import only this.
"""

from __future__ import annotations

import contextlib
import random
import threading
from dataclasses import dataclass, field
from typing import Callable, Iterator

from .record import Record
from .settings import Settings


@dataclass
class Shared:
    """The state of one link that its handle and its relaying threads both use.

    settings: direction -> the frozen Settings in force. The handle swaps
        in a new object to change them, so a thread reads them without a lock.
    rngs: direction -> its seeded random.Random; draw only inside `draws()`.
    stopping: set once stop() begins; every wait of every thread watches it.
    thread_prefix: the start of every thread's name, set once the link is bound.
    adopt_thread: tells the handle's lifecycle that a thread is one of its own.
    """

    target: tuple
    handshake: bool
    record: Record
    settings: dict[str, Settings]
    rngs: dict[str, random.Random]
    adopt_thread: Callable[[threading.Thread], None]
    stopping: threading.Event = field(default_factory=threading.Event)
    thread_prefix: str = "sockcourse-link-0-"
    numbered: int = 0  # clients numbered so far
    _rng_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _number_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @contextlib.contextmanager
    def draws(self, direction: str) -> Iterator[random.Random]:
        """The direction's rng, held for one decision: the threads of many clients draw from it in turn."""
        with self._rng_lock:
            yield self.rngs[direction]

    def next_number(self) -> int:
        """The number of a new TCP connection or UDP client: 1, 2, 3, ..."""
        with self._number_lock:
            self.numbered += 1
            return self.numbered

    def thread(self, target, label: str) -> threading.Thread:
        """A daemon thread of the link, named for it and counted as its own (not started)."""
        thread = threading.Thread(target=target, name=f"{self.thread_prefix}{label}", daemon=True)
        self.adopt_thread(thread)
        return thread
