"""The UDP half of the link: one flow per client, relayed datagram by datagram."""

from __future__ import annotations

import collections
import heapq
import itertools
import selectors
import socket
import time

from ..core.addresses import family_for
from ..core.limits import LOOP_TICK
from ..protocols.faults import datagram_fate
from .limits import BUFFER, BURST, DIRECTIONS, HOLD_LIMIT, MAX_FLOWS, MAX_QUEUED_DATAGRAMS
from .shared import Shared


class Flow:
    """One UDP client: its address and the socket that speaks for it to the server."""

    def __init__(self, number: int, client, sock: socket.socket):
        self.number = number
        self.client = client
        self.sock = sock
        self.closed = False
        self.last_due = dict.fromkeys(DIRECTIONS, 0.0)
        self.held: dict = dict.fromkeys(DIRECTIONS)  # direction -> (data, received, copies, deadline)


class DatagramRelay:
    """The UDP side of a link: one thread, one selector, one heap of datagrams due."""

    def __init__(self, shared: Shared, front: socket.socket, wake: socket.socket):
        self.shared = shared
        self.front = front
        self.wake = wake
        self.error = None  # the UDP side has no loop-ending error; here so both halves read alike
        self.flows: collections.OrderedDict = collections.OrderedDict()
        self.heap: list = []
        self.order = itertools.count()
        self.selector = None
        self.target_family = family_for(shared.target[0])

    @property
    def open_connections(self) -> int:
        return len(self.flows)

    def run(self) -> None:
        stopping = self.shared.stopping
        try:
            with selectors.DefaultSelector() as self.selector:
                self.selector.register(self.front, selectors.EVENT_READ)
                self.selector.register(self.wake, selectors.EVENT_READ, "wake")
                while not stopping.is_set():
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
            self.close()

    def close(self) -> None:
        """Close every flow's socket; safe twice."""
        for flow in list(self.flows.values()):
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
            return LOOP_TICK
        return min(LOOP_TICK, max(0.0, soonest - time.monotonic()))

    def _from_clients(self) -> None:
        for _ in range(BURST):
            try:
                data, client = self.front.recvfrom(BUFFER)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                continue  # an ICMP error about an earlier datagram to a client that left
            flow = self._flow(client)
            if flow is not None:
                self._route("to_server", flow, data)

    def _from_server(self, flow: Flow) -> None:
        if flow.closed:
            return  # forgotten by a client's datagram handled earlier in the same wake-up
        for _ in range(BURST):
            try:
                data = flow.sock.recv(BUFFER)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                continue  # "port unreachable" for an earlier datagram: no server there
            self._route("to_client", flow, data)

    def _flow(self, client) -> Flow | None:
        flow = self.flows.get(client)
        if flow is not None:
            self.flows.move_to_end(client)
            return flow
        if len(self.flows) >= MAX_FLOWS:
            _, oldest = self.flows.popitem(last=False)
            self._forget(oldest)
        sock = socket.socket(self.target_family, socket.SOCK_DGRAM)
        try:
            # Connected: the kernel passes on only the server's datagrams, and each
            # client gets its own port, so answers find their way back.
            sock.connect(self.shared.target)
            sock.setblocking(False)
        except OSError:
            sock.close()
            return None
        flow = self.flows[client] = Flow(self.shared.next_number(), client, sock)
        self.selector.register(sock, selectors.EVENT_READ, flow)
        return flow

    def _forget(self, flow: Flow) -> None:
        """Forget the client silent longest, to make room: what the link holds for it is dropped, and said so."""
        record = self.shared.record
        flow.closed = True  # its datagrams still in the heap are dropped when due (_send_due)
        for direction, held in flow.held.items():
            if held is not None:
                record.add(direction, flow.number, held[0], "dropped", why="cap")
        # Answers that reached its socket but were not read yet die with it: count them.
        for _ in range(BURST):
            try:
                data = flow.sock.recv(BUFFER)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                continue
            record.add("to_client", flow.number, data, "dropped", why="cap")
        self.selector.unregister(flow.sock)
        flow.sock.close()

    def _route(self, direction: str, flow: Flow, data: bytes) -> None:
        settings = self.shared.settings[direction]
        now = time.monotonic()
        with self.shared.draws(direction) as rng:
            fate = datagram_fate(settings, rng)
        if fate.lost:
            self.shared.record.add(direction, flow.number, data, "dropped")
            return
        held = flow.held[direction]
        if held is None and fate.held_back:
            flow.held[direction] = (data, now, fate.copies, now + fate.wait + HOLD_LIMIT)
            return
        due = max(now + fate.wait, flow.last_due[direction])
        self._push(due, direction, flow, data, "delayed" if fate.wait > 0 else "delivered", now, fate.copies)
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
            self.shared.record.add(direction, flow.number, data, "dropped", why="queue")
            return
        heapq.heappush(self.heap, (due, next(self.order), direction, flow, data, action, received))
        if copies > 1:
            heapq.heappush(self.heap, (due, next(self.order), direction, flow, data, "duplicated", received))

    def _send_due(self, now: float) -> None:
        record = self.shared.record
        while self.heap and self.heap[0][0] <= now:
            _, _, direction, flow, data, action, received = heapq.heappop(self.heap)
            if flow.closed:
                # Its client was forgotten to make room (MAX_FLOWS): nowhere to send it.
                record.add(direction, flow.number, data, "dropped", why="cap")
                continue
            try:
                if direction == "to_server":
                    flow.sock.send(data)
                else:
                    self.front.sendto(data, flow.client)
            except OSError:
                # A full buffer or an ICMP error: the datagram is lost, as UDP loses it.
                record.add(direction, flow.number, data, "dropped", why="send")
                continue
            record.add(direction, flow.number, data, action, time.monotonic() - received)
