"""What happened on a server's sockets, recorded as plain data.

A `Trace` is a thread-safe, bounded list of `Event`s. Servers append to it
from their threads; notebook cells read it (as rows, as text, or through
`sockcourse.viz`) once the conversation is over. Nothing here prints.
"""

from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass, field

#: How many bytes of each payload an event keeps. Enough to label an arrow
#: in a diagram; the real size is always in `Event.nbytes`.
PREVIEW_BYTES = 256

#: The most events a trace keeps. A long benchmark must not eat the memory
#: of the learner's kernel; later events are counted in `Trace.dropped`.
MAX_EVENTS = 200_000

#: The kinds of event a server records, and what each one means.
KINDS = {
    "listen": "the server socket is bound and listening (or bound, for datagrams)",
    "accept": "accept() returned a new connected socket",
    "recv": "recv() returned bytes from the peer",
    "eof": "recv() returned b'': the peer sent FIN (it will send no more)",
    "send": "send()/sendall() handed bytes to the kernel",
    "recvfrom": "recvfrom() returned one datagram",
    "sendto": "sendto() sent one datagram",
    "shutdown": "shutdown() ended one direction (or both) of the connection",
    "close": "the server closed its connected socket (its FIN leaves now)",
    "reset": "the peer reset or broke the connection (RST, broken pipe)",
    "timeout": "the connection was idle for longer than the server's idle timeout",
    "handshake": "the TLS handshake failed (the client broke it off, or one side refused the other)",
    "error": "the handler raised an exception",
    "stop": "the server stopped",
}


@dataclass(frozen=True)
class Event:
    """One thing that happened, as the server saw it.

    `t` is seconds since the server started listening. `conn` numbers the
    connections of a stream server from 1 (0 for the listening socket and for
    datagram servers). `peer` is the other end's address as text.

    The facts a picture or a check needs are fields, never words to parse
    out of `detail`: `abort` is True for a close that sends RST (SO_LINGER
    with a zero timeout), `error_type` names the exception behind a "reset",
    "timeout", "handshake" or "error" event, and `fault` says whose doing
    it was ("peer", "handler", "course"; see `core.errors.Fault`).
    """

    t: float
    kind: str
    conn: int = 0
    peer: str = ""
    nbytes: int = 0
    data: bytes = b""
    detail: str = ""
    abort: bool = False
    error_type: str = ""
    fault: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class Trace:
    """The events of one server, in the order they happened."""

    started: float = field(default_factory=time.monotonic)
    dropped: int = 0
    _events: list = field(default_factory=list, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, kind: str, *, conn: int = 0, peer: str = "", data: bytes = b"",
               nbytes: int | None = None, detail: str = "", abort: bool = False,
               error: BaseException | None = None, fault: str = "") -> None:
        """Append one event; called by server threads.

        `error`, if given, fills `error_type`; `fault` is a `Fault` (or its value).
        """
        if kind not in KINDS:
            raise ValueError(f"Unknown trace event kind {kind!r}; expected one of {', '.join(KINDS)}.")
        event = Event(
            t=time.monotonic() - self.started,
            kind=kind,
            conn=conn,
            peer=peer,
            nbytes=len(data) if nbytes is None else nbytes,
            data=bytes(data[:PREVIEW_BYTES]),
            detail=detail,
            abort=abort,
            error_type="" if error is None else type(error).__name__,
            fault=getattr(fault, "value", fault),
        )
        with self._lock:
            if len(self._events) >= MAX_EVENTS:
                self.dropped += 1
            else:
                self._events.append(event)

    @property
    def events(self) -> list[Event]:
        """A snapshot of the events so far (a new list each time)."""
        with self._lock:
            return list(self._events)

    def __len__(self) -> int:
        with self._lock:
            return len(self._events)

    def __iter__(self):
        return iter(self.events)

    def of_kind(self, *kinds: str) -> list[Event]:
        return [e for e in self.events if e.kind in kinds]

    def connection(self, conn: int) -> list[Event]:
        """The events of one connection (numbered from 1)."""
        return [e for e in self.events if e.conn == conn]

    def bytes_in(self, conn: int | None = None) -> int:
        """Bytes the server received, on one connection or on all."""
        return sum(e.nbytes for e in self.events
                   if e.kind in ("recv", "recvfrom") and (conn is None or e.conn == conn))

    def bytes_out(self, conn: int | None = None) -> int:
        """Bytes the server sent, on one connection or on all."""
        return sum(e.nbytes for e in self.events
                   if e.kind in ("send", "sendto") and (conn is None or e.conn == conn))

    def rows(self, *, times: bool = True) -> list[dict]:
        """The events as a list of dicts, ready for a table."""
        rows = []
        for e in self.events:
            row = e.as_dict()
            if not times:
                del row["t"]
            rows.append(row)
        return rows

    def to_text(self, *, times: bool = False, width: int = 40) -> str:
        """A readable listing, one event a line.

        Times are left out by default because they differ on every run; pass
        `times=True` to see them.
        """
        lines = []
        for e in self.events:
            who = f"#{e.conn}" if e.conn else "  "
            what = e.kind
            if e.data:
                shown = repr(e.data)
                if len(shown) > width:
                    shown = shown[: width - 3] + "..."
                what += f" {e.nbytes:>5} B {shown}"
            elif e.nbytes:
                what += f" {e.nbytes:>5} B"
            if e.detail:
                what += f" ({e.detail})"
            stamp = f"{e.t * 1000:9.3f} ms  " if times else ""
            lines.append(f"{stamp}{who:>4} {what}")
        if self.dropped:
            lines.append(f"... and {self.dropped} more events that the trace had no room for")
        return "\n".join(lines)

    def clear(self) -> None:
        with self._lock:
            self._events.clear()
            self.dropped = 0
