"""The UDP half of the link: one flow per client, relayed datagram by datagram."""

from __future__ import annotations

import collections
import heapq
import itertools
import selectors
import socket
import time
from typing import TYPE_CHECKING

from .limits import DIRECTIONS, HOLD_LIMIT, MAX_FLOWS, MAX_QUEUED_DATAGRAMS, _BUFFER, _BURST, _LOOP_TICK

if TYPE_CHECKING:  # only for annotations: relay imports this module
    from .relay import Link


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
