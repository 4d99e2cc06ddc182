"""The TCP half of the link: one connection, and a pipe for each of its directions."""

from __future__ import annotations

import collections
import socket
import threading
import time
from typing import TYPE_CHECKING
from dataclasses import dataclass

from .limits import CONNECT_TIMEOUT, MAX_QUEUED_BYTES, _BUFFER, _LINGER_ABORT, _LOOP_TICK

if TYPE_CHECKING:  # only for annotations: relay imports this module
    from .relay import Link


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


