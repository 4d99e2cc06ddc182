"""The TCP half of the link: an accept loop, one Connection per client, and a Pipe for each of its directions."""

from __future__ import annotations

import collections
import selectors
import socket
import threading
import time

from ..core.limits import ACCEPT_CAPACITY_ERRNOS, ACCEPT_RETRY_DELAY, LOOP_TICK
from ..core.sockets import abort
from ..protocols.faults import Item, PipeState, plan_pieces
from .limits import BUFFER, CONNECT_TIMEOUT, MAX_CONNECTIONS, MAX_QUEUED_BYTES
from .shared import Shared

#: Reads of BUFFER bytes at most when a socket is emptied at its end (4 MiB): a flood cannot hold up a stop.
DRAIN_READS = 64


def discard_unread(sock: socket.socket, deadline: float | None = None) -> None:
    """Read away, without waiting, bytes that will never be forwarded, so that close() sends FIN.

    Closing a TCP socket with unread data sends RST instead (RFC 2525,
    section 2.17), and a stopped link should end its connections politely.
    The socket is made non-blocking first: in timeout mode CPython waits
    for data (up to the timeout) before it calls recv(), whatever the flags,
    so MSG_DONTWAIT alone would cost a whole timeout per idle socket. Only
    call it once nothing else reads the socket, or once the connection is
    ending and the other threads treat any error as the end.
    """
    try:
        sock.setblocking(False)
    except OSError:
        return  # closed already: nothing left to read
    for _ in range(DRAIN_READS):
        if deadline is not None and time.monotonic() >= deadline:
            return
        try:
            if not sock.recv(BUFFER):
                return
        except OSError:  # BlockingIOError: nothing left; anything else: nothing to save
            return


class StreamRelay:
    """The TCP side of a link: one thread accepts, each client gets a Connection (four threads)."""

    def __init__(self, shared: Shared, listener: socket.socket, wake: socket.socket):
        self.shared = shared
        self.listener = listener
        self.wake = wake
        #: An accept() error other than "no room just now", which ended the loop; stop() reports it.
        self.error: OSError | None = None
        self._connections: dict[int, Connection] = {}
        self._lock = threading.Lock()

    @property
    def open_connections(self) -> int:
        with self._lock:
            return len(self._connections)

    def run(self) -> None:
        stopping = self.shared.stopping
        with selectors.DefaultSelector() as selector:
            selector.register(self.listener, selectors.EVENT_READ)
            selector.register(self.wake, selectors.EVENT_READ)
            while not stopping.is_set():
                ready = [key.fileobj for key, _ in selector.select(timeout=LOOP_TICK)]
                if self.wake in ready or stopping.is_set():
                    return
                if not ready:
                    continue
                try:
                    client, _ = self.listener.accept()
                except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                    continue  # the client gave up before we took it: nothing to do
                except OSError as exc:
                    if stopping.is_set():
                        return
                    if exc.errno in ACCEPT_CAPACITY_ERRNOS:
                        # No room just now (out of descriptors, say): breathe, then try again.
                        stopping.wait(ACCEPT_RETRY_DELAY)
                        continue
                    self.error = exc
                    return
                self.take(client)

    def take(self, client: socket.socket) -> None:
        number = self.shared.next_number()
        with self._lock:
            full = len(self._connections) >= MAX_CONNECTIONS
            if not full:
                connection = self._connections[number] = Connection(self.shared, number, client, self.forget)
        if full:
            # Written down before the RST leaves, so a client that sees the reset finds it in the record.
            self.shared.record.add("to_client", number, b"", "reset", why="cap")
            abort(client)
            return
        try:
            connection.start()
        except RuntimeError:  # no thread to be had: the failed start has reset the client, as if the link were full
            self.shared.record.add("to_client", number, b"", "reset", why="cap")

    def forget(self, number: int) -> None:
        with self._lock:
            self._connections.pop(number, None)

    def shut_all(self, deadline: float) -> list[threading.Thread]:
        """End every connection with FIN both ways; the threads to wait for."""
        with self._lock:
            connections = list(self._connections.values())
        for connection in connections:
            connection.shut(deadline)
        return [thread for connection in connections for thread in connection.thread_list()]

    def close(self) -> None:
        """Close what is left (connections whose threads did not end in time); safe twice."""
        with self._lock:
            connections = list(self._connections.values())
        for connection in connections:
            connection.close()


class Connection:
    """One client's connection through the link: two sockets and four threads.

    The sockets are closed by whichever of the threads ends last, so no
    thread ever uses a socket another one has closed.
    """

    def __init__(self, shared: Shared, number: int, client: socket.socket, forget):
        self.shared = shared
        self.number = number
        self.client = client
        self.server = None
        self.pipes: dict[str, Pipe] = {}
        self.lock = threading.Lock()
        self.closing = False  # stop(): end quietly
        self.aborted = False  # a reset: end with RST both ways
        self.accepted = time.monotonic()
        self._forget = forget
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

        thread = self.shared.thread(body, f"{self.number}-{label}")
        with self.lock:
            if self.ending and self._threads:
                return
            self._live += 1
            self._threads.append(thread)
        try:
            thread.start()
        except BaseException:
            with self.lock:
                self.aborted = True  # the connection cannot be served: its ends hear a reset
            self._thread_done()
            raise

    def thread_list(self) -> list[threading.Thread]:
        with self.lock:
            return list(self._threads)

    def _run(self) -> None:
        shared = self.shared
        hold_answers = 0.0
        if shared.handshake:
            up = shared.settings["to_server"].delay
            down = shared.settings["to_client"].delay
            # The SYN and SYN+ACK's round trip: only then may a real client send.
            if shared.stopping.wait(max(0.0, self.accepted + up + down - time.monotonic())):
                return
            hold_answers = up  # the last ACK's way to the server
        try:
            server = socket.create_connection(shared.target, timeout=CONNECT_TIMEOUT)
        except OSError:
            # Nobody to talk to: the client hears a reset, the nearest thing to "refused".
            with self.lock:
                self.aborted = True
            shared.record.add("to_client", self.number, b"", "reset", why="no server")
            return
        with self.lock:
            if self.closing:
                server.close()
                return
            self.server = server
        for sock in (self.client, server):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            # A timeout bounds every wait, so the loops notice stop() even if nothing wakes them.
            sock.settimeout(LOOP_TICK)
        self.pipes = {"to_server": Pipe(self, "to_server", self.client, server),
                      "to_client": Pipe(self, "to_client", server, self.client)}
        self._spawn(self.pipes["to_server"].write_loop, "to_server-writer")
        self._spawn(self.pipes["to_client"].write_loop, "to_client-writer")
        self._spawn(self._after(hold_answers, self.pipes["to_client"]), "to_client-reader")
        self.pipes["to_server"].read_loop()

    def _after(self, seconds: float, pipe: Pipe):
        """The pipe's read loop, started `seconds` from now (at once if 0), unless the link stops first."""
        if seconds <= 0:
            return pipe.read_loop

        def later():
            if not self.shared.stopping.wait(seconds):
                pipe.read_loop()
                return
            with pipe.cond:  # the pipe's writer waits until its reader has finished
                pipe.finished = True
                pipe.cond.notify_all()
        return later

    def abort(self, direction: str, why: str = "") -> None:
        """Reset the connection: both ends get RST once the threads have let go."""
        with self.lock:
            if self.ending:
                return
            self.aborted = True
            sockets = [s for s in (self.client, self.server) if s is not None]
        self.shared.record.add(direction, self.number, b"", "reset", why=why)
        for sock in sockets:
            try:
                # SHUT_RD wakes a thread blocked in recv() and, unlike SHUT_WR,
                # sends nothing: the first packet the ends see is the RST of close().
                sock.shutdown(socket.SHUT_RD)
            except OSError:
                pass
        self._wake_writers()

    def shut(self, deadline: float | None = None) -> None:
        """End the connection for stop(): both ends get a FIN."""
        with self.lock:
            self.closing = True
            sockets = [s for s in (self.client, self.server) if s is not None]
        for sock in sockets:
            # Unread bytes first: once the socket is shut for reading they stay
            # queued, and the close that follows would send RST instead of FIN.
            discard_unread(sock, deadline)
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
                    abort(sock)
                else:
                    discard_unread(sock)
                    sock.close()
            except OSError:
                pass
        self._forget(self.number)


class Pipe:
    """One direction of one connection: a reader that decides, a writer that delivers on time."""

    def __init__(self, conn: Connection, direction: str, src: socket.socket, dst: socket.socket):
        self.conn = conn
        self.shared = conn.shared
        self.direction = direction
        self.src, self.dst = src, dst
        self.queue: collections.deque[Item] = collections.deque()
        self.cond = threading.Condition()
        self.pending = 0  # items queued or being sent; only the reader adds
        self.queued_bytes = 0
        self.state = PipeState()
        self.finished = False

    def read_loop(self) -> None:
        conn, shared = self.conn, self.shared
        try:
            while not conn.ending:
                settings = shared.settings[self.direction]
                if settings.faulty and not self._room_to_read():
                    continue
                # Chunked data becomes one queued item per piece: read few pieces at a time.
                size = BUFFER if settings.chunk is None else min(BUFFER, settings.chunk * 64)
                try:
                    data = self.src.recv(size)
                except TimeoutError:
                    continue
                except OSError:
                    if not conn.ending:
                        conn.abort(self.direction, "peer")  # the sender reset: pass it on
                    return
                if conn.ending:
                    return
                if not data:
                    self._enqueue([Item(time.monotonic(), "eof")])
                    return
                settings = shared.settings[self.direction]  # it may have changed during recv()
                # The fast path: nothing to decide and nothing queued that must go first.
                if not settings.faulty and self.pending == 0:
                    if not self._send(data):
                        return
                    shared.record.add(self.direction, conn.number, data, "delivered")
                    continue
                now = time.monotonic()
                with shared.draws(self.direction) as rng:
                    planned = plan_pieces(settings, rng, self.state, data, now)
                items = []
                for item in planned:
                    if item.kind == "lost":  # written down when decided; TCP sends the piece again
                        shared.record.add(self.direction, conn.number, item.data, "dropped")
                    else:
                        items.append(item)
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
                self.cond.wait(LOOP_TICK)
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
                        self.cond.wait(min(wait, LOOP_TICK))
                    elif self.finished:
                        return
                    else:
                        self.cond.wait(LOOP_TICK)
                if conn.ending:
                    return
                item = self.queue.popleft()
            if item.kind == "data":
                sent = self._send(item.data)
                if sent:
                    self.shared.record.add(self.direction, conn.number, item.data, item.action,
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
                conn.abort(self.direction, item.why)
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
                    self.conn.abort(other, "peer")
                return False
        return True
