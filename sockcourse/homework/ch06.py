"""Chapter 06 homework (other languages): Java's writeUTF framing, a PLC on Modbus/TCP, a C sensor's records.

q1 `write_utf(sock, text)` and, next to it, `read_utf(sock)`: speak Java's
   DataOutputStream.writeUTF / DataInputStream.readUTF framing (a 2-byte
   big-endian length, then *modified* UTF-8) to the real Java peer
   `UtfEchoServer`: ASCII, accents, an embedded NUL and an emoji exactly as
   Java writes them, a reply one byte at a time, two strings in one piece,
   and a string too long for the 2-byte length refused before a byte leaves.
q2 `read_holding_registers(sock, unit, start, count)`: Modbus/TCP function
   0x03 built with struct, against a simulated PLC served by a real Modbus
   stack (pymodbus, sockcourse.peers.plc): the request's exact bytes, a
   response in 3-byte pieces, an exception response raised as the given
   ModbusError, the 125-register limit, and from a server of the check's own
   a stale response, one from another unit, and a connection cut short.
q3 `parse_readings(sock)`: the records of the C sensor peer
   (peers/src/c/readings.c, compiled here): uint32 seq, int16 temp_centi,
   uint16 flags in network order after a magic first record, read however
   the stream is cut, with the sender's byte order detected by that magic.

q1 checks two functions with one call, `check.q1(write_utf)`: it finds
`read_utf` beside it, in the globals of the module or notebook that defined
`write_utf` (core.Question checks one object only), as ch05's q2 does.

The peers in other languages are real programs where this machine can build
them (javac, a C compiler). Where it cannot, a Python stand-in from
`ch06_peers.py` plays the same part with the same bytes and the same lines
of output, and the report says so in a note. Everything runs on loopback.
"""

from __future__ import annotations

import os
import socket
import struct
import sys
import threading
import time

from ..core.errors import BuildError, SockcourseError, describe
from ..peers import native
from ..peers import plc as plc_peer
from ..peers.process import Peer, read_line
from ..protocols import javautf
from ..servers.threaded import serve
from . import ch06_peers
from .core import (HalfWritten, Question, failed, passed, plural, skipped, summary as _summary, text,
                   unless_stub)

CHAPTER = "06_languages"

#: The script of the Python stand-ins, run as `python ch06_peers.py ...`.
PEER_SCRIPT = os.path.abspath(ch06_peers.__file__)
#: The folder that holds the sockcourse package, for a stand-in that imports it.
PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(PEER_SCRIPT)))

#: Seconds a peer in another language may take to say where it listens (after its build).
PEER_START = 10.0
#: Seconds of silence after which the check takes what a student's function sent as all it sent.
QUIET = 0.3


# -- the peers: the real program, or its Python stand-in -------------------------------------------
class _StandIn:
    """A Python stand-in of a peer in another language: the same first line, the same further lines."""

    def __init__(self, peer: Peer):
        self.peer = peer
        self.address = _listening(peer.first_line(timeout=PEER_START), peer.name)

    def lines(self, timeout: float, *, count: int | None = None) -> list[str]:
        """As NativePeer.lines: the lines printed since, waiting up to `timeout` s, or until `count` are in."""
        found, deadline = [], time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0 and (count is None or len(found) < count):
            try:
                line = read_line(self.peer.process, left if not found else min(left, 0.02))
            except EOFError:
                break
            if line is None:
                break
            found.append(line)
        return found

    @property
    def running(self) -> bool:
        return self.peer.running

    def stop(self, timeout: float = 2.0) -> None:
        self.peer.stop(timeout=timeout)


def _listening(line: str, who: str) -> tuple[str, int]:
    """(host, port) from a peer's first line, `listening on 127.0.0.1:43121` or `listening on [::1]:43121`."""
    words = line.strip().split()
    if len(words) != 3 or words[:2] != ["listening", "on"] or ":" not in words[2]:
        raise SockcourseError(f"the peer {who} said {line!r} where it should say 'listening on HOST:PORT'")
    host, _, port = words[2].rpartition(":")
    return host.strip("[]"), int(port)


def _start_peer(name: str, language: str, args: tuple, stand_in: list[str], *, title: str):
    """The real peer `name` in `language`; its Python stand-in where it cannot run here.

    Returns (peer, real, why): peer has .address, .lines(timeout) and .stop();
    why is the sentence for the report when the stand-in plays the part.
    """
    try:
        return native.start(name, language, *args, timeout=PEER_START), True, ""
    except native.Unavailable as exc:  # a BuildError too, so it comes first
        why = f"{str(exc).rstrip('.')}. A Python stand-in"
        after = f"; install the {title} toolchain to meet the real one"
    except BuildError as exc:
        why = f"The {title} peer {name!r} could not be built here ({str(exc).rstrip('.')}), so a Python stand-in"
        after = ""
    why = (f"{why} (sockcourse/homework/ch06_peers.py) played the {title} peer instead, with the same bytes"
           f"{after}.")
    env = dict(os.environ)
    # The Java stand-in imports sockcourse.protocols.javautf: from this copy of the package, wherever it is.
    env["PYTHONPATH"] = os.pathsep.join(p for p in (PACKAGE_ROOT, env.get("PYTHONPATH", "")) if p)
    peer = Peer(stand_in, name=f"{name} (Python stand-in)", env=env)
    try:
        return _StandIn(peer), False, why
    except BaseException:
        peer.stop(timeout=1.0)
        raise


def _peer_for(ctx, name: str, language: str, args: tuple, stand_in: list[str], *, title: str):
    """A peer of this condition's own, stopped when it ends: (peer, real)."""
    peer, real, why = _start_peer(name, language, args, stand_in, title=title)
    ctx.own(peer)
    if why:
        ctx.note(why)
    return peer, real


class _SharedPeer:
    """One peer in another language for every condition of one check, started before the first.

    A JVM starts in about 0.2 s and takes 0.4 s more to end, on every
    condition; started once per check, it costs that once. It is started
    before the conditions run, so that no condition finds it as something the
    student's code left running, and stopped when the check ends.
    """

    def __init__(self, name: str, language: str, stand_in: list[str], title: str):
        self.name, self.language, self.stand_in, self.title = name, language, stand_in, title
        self.peer = self.real = self.why = self.error = None

    def start(self) -> None:
        try:
            self.peer, self.real, self.why = _start_peer(self.name, self.language, (), self.stand_in,
                                                         title=self.title)
        except Exception as exc:  # noqa: BLE001 - reported by the first condition that needs the peer
            self.error = exc

    def get(self, ctx):
        """(peer, real) for one condition: the shared one, or a fresh one if it has ended."""
        if self.error is not None:
            raise self.error
        if self.peer is None or not self.peer.running:
            return _peer_for(ctx, self.name, self.language, (), self.stand_in, title=self.title)
        if self.why:
            ctx.note(self.why)
        return self.peer, self.real

    def stop(self) -> None:
        if self.peer is not None:
            self.peer.stop(timeout=2.0)
        self.peer = None


class _SharingQuestion(Question):
    """A Question whose conditions share one peer (`shared`), which lives as long as one check."""

    def __init__(self, *args, peer: tuple, peerless=(), **kwargs):
        super().__init__(*args, **kwargs)
        self._peer_args = peer
        self.peerless = set(peerless)  # the conditions that never talk to the peer
        self.shared: _SharedPeer | None = None

    def run(self, obj, **options):
        only = options.get("only")
        wanted = ({only} if isinstance(only, str) else set(only)) if only is not None else \
            {c.id for c in self.conditions if options.get("graded") or not c.graded_only}
        self.shared = _SharedPeer(*self._peer_args)
        if wanted - self.peerless and not self._wrong_type(obj):
            self.shared.start()
        try:
            return super().run(obj, **options)
        finally:
            self.shared.stop()
            self.shared = None


def _wait_for(peer, prefix: str, timeout: float = 1.0) -> list[str]:
    """The peer's further lines that start with `prefix`, waiting at most `timeout` s for the first."""
    found, deadline = [], time.monotonic() + timeout
    while not found and (left := deadline - time.monotonic()) > 0:
        found = [line for line in peer.lines(left, count=1) if line.startswith(prefix)]
    return found


class _Collector:
    """Everything that arrives on a socket, read by a thread of the check's while the student's code runs."""

    def __init__(self, sock: socket.socket):
        self.sock, self.data, self._stop = sock, bytearray(), threading.Event()
        self.closed = False
        self._timeout = sock.gettimeout()
        self._thread = threading.Thread(target=self._run, name="homework-q1-collect", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        self.sock.settimeout(0.05)
        while not self._stop.is_set() and len(self.data) < 1 << 20:
            try:
                piece = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            if not piece:
                self.closed = True
                return
            self.data += piece

    def wait(self, want: int, *, quiet: float = QUIET) -> bytes:
        """What arrived once `want` bytes are in (and a moment for any extra), or after `quiet` s without news."""
        seen, since = len(self.data), time.monotonic()
        while True:
            time.sleep(0.01)
            if len(self.data) != seen:
                seen, since = len(self.data), time.monotonic()
            if len(self.data) >= want and time.monotonic() - since > 0.05:
                break
            if time.monotonic() - since > quiet or self.closed or not self._thread.is_alive():
                break
        return self.stop()

    def stop(self) -> bytes:
        self._stop.set()
        self._thread.join(1.0)
        self.sock.settimeout(self._timeout)  # the socket goes on sending, with its own patience
        return bytes(self.data)


def _send_in_background(sock: socket.socket, data: bytes) -> threading.Thread:
    """sendall() from a thread, so that a big reply never waits for a reader that has not started yet."""
    def send():
        try:
            sock.sendall(data)
        except OSError:
            pass  # the student's side went away: its verdict says so
    sender = threading.Thread(target=send, name="homework-q1-send", daemon=True)
    sender.start()
    return sender


def _kind(error: BaseException) -> str:
    """An exception's class as a reader knows it: 'ValueError', but 'struct.error', not 'error'."""
    kind = type(error)
    # Only the lower-case names of old modules (struct.error, socket.timeout) need their module to be read.
    return f"{kind.__module__}.{kind.__name__}" if kind.__name__[:1].islower() else kind.__name__


def _hex(data: bytes, limit: int = 24) -> str:
    shown = javautf.spaced_hex(data[:limit])
    return f"{shown} ... ({len(data):,} bytes)" if len(data) > limit else shown or "(nothing)"


def _show(value) -> str:
    if isinstance(value, str):
        shown = repr(value)
        return shown if len(shown) <= 60 else f"{shown[:40]} ... {shown[-12:]} ({len(value):,} characters)"
    return text(value)


# ====================================================================================
UTF_PEER = ("UtfEchoServer", "java", [sys.executable, PEER_SCRIPT, "utf-echo"], "Java")

q1 = _SharingQuestion(CHAPTER, "q1", answer="write_utf", title="Speak Java's writeUTF and readUTF", section="2",
                      peer=UTF_PEER, peerless={"too-long"})

q1.hint("length-prefix",
        "writeUTF sends a length first: the number of bytes that follow, as an unsigned 2-byte big-endian "
        "number, struct.pack('>H', len(body)), then the body itself, in one sendall() (chapter 06, section 2 "
        "'Java's writeUTF and modified UTF-8').")
q1.hint("count-bytes",
        "The length counts encoded bytes, not characters: 'é' is 2 bytes, '€' 3, an emoji 6. Encode the text "
        "first, then take len() of the bytes, both for the length in front and for the 65,535 limit (chapter "
        "06, section 2).")
q1.hint("nul",
        "Modified UTF-8 writes U+0000 as the two bytes C0 80, never as one 0x00 byte (DataInput, 'Modified "
        "UTF-8'). Plain UTF-8 gives b'\\x00': replace it by b'\\xc0\\x80' after encoding (chapter 06, section 2).")
q1.hint("surrogates",
        "Java holds a character beyond U+FFFF (an emoji) as two UTF-16 surrogates and writes each as 3 bytes: "
        "6 bytes where plain UTF-8 writes 4 (F0 ...). Split such a character into its two surrogates, then "
        "encode with 'surrogatepass': chr(0xD800 + (v >> 10)) and chr(0xDC00 + (v & 0x3FF)) for v = "
        "ord(c) - 0x10000 (chapter 06, section 2).")
q1.hint("send-it",
        "write_utf sends the frame on the socket it is given (sock.sendall(...)); it does not return it.")
q1.hint("too-long",
        "A body of more than 65,535 bytes cannot be counted by 2 bytes: measure the encoded body, and raise "
        "ValueError before you send anything, as writeUTF raises UTFDataFormatException. struct.error is no "
        "ValueError, and half a frame on the wire confuses the reader for good (chapter 06, section 2).")
q1.hint("max-fits",
        "A body of exactly 65,535 bytes still fits: 0xFFFF is the largest 2-byte length. Only more than that "
        "is too long; check the comparison at the limit.")
q1.hint("read-exact",
        "recv(n) returns what has arrived so far, at most n bytes. Read the 2 length bytes, then loop until "
        "every byte of the body is in, and only then decode; a character may be cut in two between pieces "
        "(chapter 01, section 5 'Framing').")
q1.hint("own-frame-only",
        "Ask recv() for no more than this string still needs (2 bytes, then the rest of the body): bytes "
        "beyond it belong to the next string, and read_utf has nowhere to keep them for the next call.")
q1.hint("decode",
        "Decode the body as readUTF does: b'\\xc0\\x80' is U+0000, and two 3-byte surrogates are one character. "
        "body.replace(b'\\xc0\\x80', b'\\x00').decode('utf-8', 'surrogatepass') keeps the surrogates; "
        ".encode('utf-16', 'surrogatepass').decode('utf-16') then joins each pair into its character; return "
        "a str (chapter 06, section 2).")
q1.hint("both-functions",
        "The check calls your read_utf(sock) too: write it in its own answer cell, under exactly that name, "
        "and run that cell before the check.")

ASCII_TEXTS = ["hello, Java", "writeUTF and readUTF", "The quick brown fox", "port 8080 open"]
ACCENT_TEXTS = ["naïve café", "Grüße aus Köln", "smörgåsbord", "São Paulo, 20 °C"]
NUL_TEXTS = ["a\0b", "key\0value", "\0start and end\0"]
EMOJI_TEXTS = ["hi 😀", "🎉 done", "rocket 🚀 launch"]
PIECES_TEXTS = ["Größe: 5 €", "déjà vu ∞", "Ærø → Malmö"]


def _java(ctx):
    """The Java peer (or its stand-in) for this condition: the check's shared one when there is one."""
    shared = getattr(ctx.question, "shared", None)
    if shared is not None:
        return shared.get(ctx)
    return _peer_for(ctx, *UTF_PEER[:2], (), UTF_PEER[2], title=UTF_PEER[3])


def _read_utf_of(student):
    """The read_utf defined beside the student's write_utf, or None."""
    found = getattr(student, "__globals__", {}).get("read_utf")
    return found if callable(found) else None


def _java_line(peer, real: bool) -> str:
    """What the Java side said about the last string, for a report."""
    said = _wait_for(peer, "readUTF", timeout=1.0)
    who = "Java's readUTF" if real else "readUTF (the Python stand-in)"
    if not said:
        return f"{who} said nothing"
    last = said[-1]
    if last.startswith("readUTF failed:"):
        return f"{who} failed: {last.removeprefix('readUTF failed:').strip()}"
    units = last.removeprefix("readUTF:").strip()
    return f"{who} read {units if len(units) <= 60 else units[:55].rsplit(' ', 1)[0] + ' ...]'}"


def _ask_java(ctx, peer, data: bytes) -> bytes:
    """Send `data` to the Java peer on a connection of the check's, end it, and return all Java answered."""
    peer.lines(0.01)  # what it said before is about another string
    conn = ctx.own(socket.create_connection(peer.address, timeout=3.0))
    sender = _send_in_background(conn, data)
    sender.join(3.0)
    try:
        conn.shutdown(socket.SHUT_WR)  # the end of the strings: Java's next readUTF meets EOF and closes
    except OSError:
        pass  # Java already closed it (it refused the bytes)
    reply = bytearray()
    while len(reply) < 1 << 20:
        try:
            piece = conn.recv(65536)
        except (socket.timeout, ConnectionError):
            break
        if not piece:
            break
        reply += piece
    return bytes(reply)


def _diagnose_write(value: str, got: bytes, *, hint: str):
    """Why `got` is not what writeUTF(value) sends, as (message, hint); `hint` where no symptom says more."""
    body = javautf.encode(value)
    plain = value.encode("utf-8", "surrogatepass")
    if not got:
        return "your write_utf sent nothing", "send-it"
    if got in (body, plain):
        return "your write_utf sent the text's bytes without the 2-byte length in front", "length-prefix"
    if len(got) >= 2:
        size, rest = int.from_bytes(got[:2], "big"), got[2:]
        if rest == body:
            if got[:2] == len(body).to_bytes(2, "little"):
                return "the 2-byte length is little-endian; Java reads it big-endian", "length-prefix"
            if size == len(value) and size != len(body):
                return (f"the length says {size}, the number of characters; the body has {len(body)} bytes",
                        "count-bytes")
            return f"the length says {size}, but the body has {len(body)} bytes", "length-prefix"
        if got[4:] == body or got[4:] == plain:
            return "the length in front takes 4 bytes; writeUTF's takes 2", "length-prefix"
        if "\0" in value and b"\x00" in rest:
            return "U+0000 went out as a 0x00 byte; Java writes it as C0 80", "nul"
        if any(ord(c) > 0xFFFF for c in value) and any(0xF0 <= b <= 0xF7 for b in rest):
            return ("a character beyond U+FFFF went out as a 4-byte UTF-8 sequence (F0 ...); Java writes two "
                    "3-byte surrogates, 6 bytes"), "surrogates"
        if rest == plain:
            return "the body is plain UTF-8, not modified UTF-8", hint
        if size != len(rest):
            return (f"the length says {size:,} but {len(rest):,} bytes followed it",
                    "count-bytes" if size == len(value) else "length-prefix")
    where = next((i for i, (a, b) in enumerate(zip(got, javautf.frame(value))) if a != b), min(len(got), len(body)))
    return f"the bytes differ from writeUTF's from byte {where} on", hint


def _diagnose_read(value: str, outcome, *, hint: str):
    """Why read_utf's outcome is not `value`, as (message, hint), or None when it is right."""
    if outcome.kind in ("blocked", "still-running"):
        return f"your read_utf {outcome.text()}, though every byte of the string had arrived", hint
    if outcome.raised:
        error = outcome.error
        return f"your read_utf raised {describe(error)}" + (f" at {outcome.where}" if outcome.where else ""), hint
    got = outcome.value
    if got == value and isinstance(got, str):
        return None
    if not isinstance(got, str):
        return f"your read_utf returned {type(got).__name__} {_show(got)}, not a str", "decode"
    joined = got.encode("utf-16", "surrogatepass").decode("utf-16", "surrogatepass")
    if joined == value:
        return "your read_utf returned the two surrogates of a character instead of the character itself", "decode"
    if "\0" in value and "\0" not in got:
        return "your read_utf did not turn C0 80 back into U+0000", "decode"
    if value.startswith(got):
        return f"your read_utf returned {len(got)} of the {len(value)} characters", hint
    return "your read_utf returned another text than the one sent", hint


def _round_trip(student, ctx, value: str, *, write_hint: str, read_hint: str, link=None, what: str = ""):
    """write_utf(value) to Java, exact bytes compared; Java's writeUTF answer to read_utf; one verdict."""
    read = _read_utf_of(student)
    if read is None:
        return failed("there is no function read_utf next to your write_utf", hint="both-functions",
                      expected="def read_utf(sock): ... in the notebook, beside write_utf")
    java, real = _java(ctx)
    peer, mine = ctx.pair(link=link)
    expected = javautf.frame(value)
    sent = what or f"write_utf(sock, {_show(value)})"
    collector = _Collector(peer)
    outcome = ctx.call(student, mine, value, budget=2.0)
    got = collector.wait(len(expected))
    if outcome.kind in ("blocked", "still-running"):
        return failed(f"your write_utf {outcome.text()}", hint="send-it", sent=sent, expected=_hex(expected))
    if outcome.raised:
        return failed(f"your write_utf raised {describe(outcome.error)}"
                      + (f" at {outcome.where}" if outcome.where else ""), hint=write_hint, sent=sent,
                      expected=_hex(expected))
    if not got:
        did = (f"returned {_hex(outcome.value)} and sent nothing" if isinstance(outcome.value, (bytes, bytearray))
               else "sent nothing")
        return failed(f"your write_utf {did}", hint="send-it", sent=sent, expected=_hex(expected), got="(nothing)")
    reply = _ask_java(ctx, java, got)
    said = _java_line(java, real)
    if got != expected:
        message, hint = _diagnose_write(value, got, hint=write_hint)
        return failed(message, hint=hint, sent=sent, expected=_hex(expected), got=_hex(got), java=said)
    if reply != expected:  # Java read our bytes as another string: a fault of the check, said plainly
        raise SockcourseError(f"the Java peer answered {_hex(reply)} to {_hex(expected)}, which it should echo")
    sender = _send_in_background(peer, reply)
    outcome = ctx.call(unless_stub(read), mine, budget=2.0)
    if outcome.raised and isinstance(outcome.error, HalfWritten):
        return failed("your read_utf still raises NotImplementedError", hint="both-functions",
                      sent=f"Java's writeUTF({_show(value)})", expected=_show(value))
    sender.join(1.0)
    wrong = _diagnose_read(value, outcome, hint=read_hint)
    if wrong:
        return failed(wrong[0], hint=wrong[1], sent=f"Java's writeUTF({_show(value)}): {_hex(reply)}",
                      expected=_show(value), got=_show(outcome.value) if outcome.returned else outcome.text())
    return passed(f"{said}; read_utf gave it back")


@q1.condition("ascii", "an ASCII string there and back")
def _(student, ctx):
    value = ctx.rng.choice(ASCII_TEXTS) if ctx.graded else "hello, Java"
    return _round_trip(student, ctx, value, write_hint="length-prefix", read_hint="read-exact")


@q1.condition("accents", "accented letters: the length counts bytes, not characters")
def _(student, ctx):
    value = ctx.rng.choice(ACCENT_TEXTS) if ctx.graded else "naïve café"
    return _round_trip(student, ctx, value, write_hint="count-bytes", read_hint="decode")


@q1.condition("nul", "an embedded NUL, exact bytes: U+0000 is C0 80")
def _(student, ctx):
    value = ctx.rng.choice(NUL_TEXTS) if ctx.graded else "a\0b"
    return _round_trip(student, ctx, value, write_hint="nul", read_hint="decode")


@q1.condition("emoji", "an emoji, exact bytes: two 3-byte surrogates, 6 bytes")
def _(student, ctx):
    value = ctx.rng.choice(EMOJI_TEXTS) if ctx.graded else "hi 😀"
    return _round_trip(student, ctx, value, write_hint="surrogates", read_hint="decode")


@q1.condition("chunk1", "Java's reply arrives one byte at a time (link chunk=1)")
def _(student, ctx):
    value = ctx.rng.choice(PIECES_TEXTS) if ctx.graded else PIECES_TEXTS[0]
    return _round_trip(student, ctx, value, write_hint="count-bytes", read_hint="read-exact",
                       link={"chunk": 1, "gap": 0.002}, what=f"write_utf(sock, {_show(value)}), then Java's "
                       f"answer one byte at a time")


@q1.condition("two", "two strings in one piece: each read_utf takes its own")
def _(student, ctx):
    read = _read_utf_of(student)
    if read is None:
        return failed("there is no function read_utf next to your write_utf", hint="both-functions",
                      expected="def read_utf(sock): ... in the notebook, beside write_utf")
    first, second = ctx.rng.sample(ASCII_TEXTS + ACCENT_TEXTS, 2) if ctx.graded else ("first", "zweite Größe")
    java, real = _java(ctx)
    reply = _ask_java(ctx, java, javautf.frame(first) + javautf.frame(second))
    if reply != javautf.frame(first) + javautf.frame(second):
        raise SockcourseError(f"the Java peer answered {_hex(reply)} to two strings it should echo")
    peer, mine = ctx.pair()
    peer.sendall(reply)  # both strings in one sendall(): they arrive together
    read = unless_stub(read)
    outcome = ctx.call(lambda sock: (read(sock), read(sock)), mine, budget=2.0)
    sent = f"Java's writeUTF({first!r}) and writeUTF({second!r}) in one piece: {_hex(reply)}"
    if outcome.raised and isinstance(outcome.error, HalfWritten):
        return failed("your read_utf still raises NotImplementedError", hint="both-functions", sent=sent,
                      expected=f"{first!r}, then {second!r}")
    if outcome.kind in ("blocked", "still-running"):
        return failed(f"the second read_utf {outcome.text()}: the first one took the second string's bytes too",
                      hint="own-frame-only", sent=sent, expected=f"{first!r}, then {second!r}")
    if outcome.raised:
        return failed(f"your read_utf raised {describe(outcome.error)}"
                      + (f" at {outcome.where}" if outcome.where else ""), hint="own-frame-only", sent=sent,
                      expected=f"{first!r}, then {second!r}")
    if outcome.value != (first, second):
        got = outcome.value
        hint = "decode" if got[0] != first else "own-frame-only"
        return failed("the two read_utf calls did not give back the two strings, in order", hint=hint, sent=sent,
                      expected=f"{first!r}, then {second!r}", got=f"{_show(got[0])}, then {_show(got[1])}")
    return passed()


@q1.condition("too-long", "too long for writeUTF: ValueError before anything is sent")
def _(student, ctx):
    values = ["x" * 70000]
    if ctx.graded:  # and one of fewer than 65,536 characters, but more than 65,535 bytes
        values.append(ctx.rng.choice(["é" * 32768, "\0" * 32768, "€" * 21846, "😀" * 10923]))
    for value in values:
        peer, mine = ctx.pair()
        collector = _Collector(peer)
        outcome = ctx.call(student, mine, value, budget=2.0)
        got = collector.wait(1, quiet=0.15)
        size = len(javautf.encode(value))
        sent = f"write_utf(sock, a text of {len(value):,} characters, {size:,} bytes in modified UTF-8)"
        # The first text is too long by any count; the second only by its bytes.
        hint = "count-bytes" if len(value) <= javautf.MAX_BYTES else "too-long"
        if outcome.kind in ("blocked", "still-running"):
            return failed(f"your write_utf {outcome.text()}", hint=hint, sent=sent, expected="ValueError at once")
        if outcome.returned:
            return failed(f"your write_utf returned and sent {len(got):,} bytes", hint=hint, sent=sent,
                          expected="ValueError, and nothing sent", got=_hex(got))
        if not isinstance(outcome.error, ValueError):
            return failed(f"your write_utf raised {describe(outcome.error)}, not ValueError", hint=hint, sent=sent,
                          expected="ValueError, and nothing sent", got=_kind(outcome.error))
        if got:
            return failed(f"your write_utf raised ValueError, but only after it had sent {len(got):,} bytes",
                          hint="too-long", sent=sent, expected="nothing sent", got=_hex(got))
    return passed("ValueError, nothing sent")


@q1.condition("max", "exactly 65,535 bytes: the longest string writeUTF allows", graded_only=True, budget=5.0)
def _(student, ctx):
    value = ctx.rng.choice(["€" * 21845, "a" + "é" * 32767, "😀" * 10922 + "abc"])
    return _round_trip(student, ctx, value, write_hint="max-fits", read_hint="read-exact",
                       what=f"write_utf(sock, a text of {len(value):,} characters, 65,535 bytes in modified UTF-8)")


# ====================================================================================
q2 = Question(CHAPTER, "q2", answer="read_holding_registers", title="Read a PLC's registers over Modbus/TCP",
              section="5")

q2.hint("mbap",
        "A request is the 7-byte MBAP header, struct.pack('>HHHB', transaction_id, 0, 6, unit): a transaction "
        "id of your choice, protocol id 0, the length, the unit id you were given; then the PDU, "
        "struct.pack('>BHH', 3, start, count). Everything is big-endian (Modbus Messaging on TCP/IP "
        "Implementation Guide v1.0b, section 3.1.3; chapter 06, section 5 'A PLC on Modbus/TCP').")
q2.hint("length-field",
        "The MBAP length counts the bytes that follow it: the unit id and the PDU, 1 + 5 = 6 for this request "
        "(neither the whole frame's 12 nor the PDU's 5).")
q2.hint("read-exact",
        "recv() may return part of a response. Read the 7-byte MBAP header first, in a loop until all 7 are "
        "in, then exactly length - 1 more bytes the same way (chapter 06, section 5; chapter 01, section 5).")
q2.hint("unsigned",
        "A holding register is an unsigned 16-bit big-endian number, 0 to 65535: struct.unpack('>%dH' % n, "
        "data), not 'h', and not the machine's order (Modbus Application Protocol v1.1b3, section 6.3).")
q2.hint("exception",
        "A function code with its high bit set, 0x83 for a read of holding registers, is an exception "
        "response: its one data byte is the exception code (2: illegal data address). Raise "
        "ModbusError(code) then (Modbus Application Protocol v1.1b3, section 7).")
q2.hint("limit",
        "One request reads 1 to 125 registers (Modbus Application Protocol v1.1b3, section 6.3): check count "
        "before you send anything, and raise ValueError otherwise.")
q2.hint("transaction-id",
        "Compare the response's transaction id with your request's: a response to an earlier request that "
        "came late is not the answer to this one. Skip it and read the next response (Implementation Guide "
        "v1.0b, section 3.1.3).")
q2.hint("unit-check",
        "A response whose unit id is not the one you asked is not your answer; nothing better will follow "
        "it. Raise ValueError instead of returning its registers or waiting for another.")
q2.hint("eof",
        "recv() returning b'' in the middle of a response means the connection was cut: raise "
        "ConnectionError, never return part of the registers (chapter 01, section 3 'Death').")

#: The PLC's holding registers in these checks: a value at or above 0x8000 shows a signed reading.
REGISTERS = 40
#: Seconds each call of the student's function may take.
CALL_BUDGET = 2.0


def _mbap_response(tid: int, unit: int, values: list[int]) -> bytes:
    pdu = struct.pack(f">BB{len(values)}H", 3, 2 * len(values), *values)
    return struct.pack(">HHHB", tid, 0, len(pdu) + 1, unit) + pdu


def _modbus_values(ctx, count: int) -> list[int]:
    values = [ctx.rng.randrange(0x10000) for _ in range(count)]
    values[ctx.rng.randrange(count)] = ctx.rng.randrange(0x8000, 0x10000)  # one that a signed read gets wrong
    return values


def _plc(ctx, unit: int):
    """A PLC of this condition's own, `REGISTERS` holding registers from address 0 (pymodbus loads on first use)."""
    values = _modbus_values(ctx, REGISTERS)
    return ctx.own(plc_peer.PLC(unit=unit, holding=values, seed=ctx.rng.randrange(1000))), values


def _needs_plc(condition):
    """A condition that talks to the PLC skips, with pymodbus's own sentence, where pymodbus cannot run."""
    def run(student, ctx):
        try:
            return condition(student, ctx)
        except plc_peer.Unavailable as exc:
            return skipped(str(exc))
    return run


def _request_problem(data: bytes, unit: int, start: int, count: int) -> tuple[str, str] | None:
    """What is wrong with a request's bytes, as (message, hint), or None when it is a right 0x03 request."""
    if len(data) < 12:  # the check's server reads 12 bytes at most: more is the next request
        return (f"your request was {len(data)} bytes ({_hex(data)}); a read of holding registers is 12: the "
                f"7-byte MBAP header and the 5-byte PDU"), "mbap"
    tid, protocol, length, got_unit, function, got_start, got_count = struct.unpack(">HHHBBHH", data[:12])
    if protocol != 0:
        return f"the protocol id (bytes 2-3) is {protocol}, not 0 (Modbus)", "mbap"
    if length != 6:
        return f"the MBAP length (bytes 4-5) says {length}; 6 bytes follow it", "length-field"
    if got_unit != unit or function != 3 or got_start != start or got_count != count:
        return (f"the request reads unit {got_unit}, function {function}, start {got_start}, count {got_count}; "
                f"the call asked for unit {unit}, function 3, start {start}, count {count}"), "mbap"
    return None


def _own_server(ctx, respond, *, patience: float = 1.0):
    """A Modbus/TCP server of the check's own: `respond(conn, tid, unit, start, count)` answers each request.

    It waits `patience` seconds for each request, and ends the connection
    when `respond` returns False. Returns (server, requests): the raw bytes
    of every request it received.
    """
    requests = []

    def modbus_handler(conn):
        conn.settimeout(patience)
        while True:
            data = b""
            try:
                while len(data) < 12:
                    piece = conn.recv(12 - len(data))
                    if not piece:
                        break
                    data += piece
            except (socket.timeout, ConnectionError):
                pass
            if not data:
                return
            requests.append(data)
            if len(data) < 12:
                return  # a request too short to answer: close, so that the client is not left waiting
            tid, _, _, unit, _, start, count = struct.unpack(">HHHBBHH", data)
            try:
                if respond(conn, tid, unit, start, count) is False:
                    return
            except OSError:
                return  # the client went away: its verdict says what it did

    return ctx.own(serve(modbus_handler, idle_timeout=3.0)), requests


def _connect(ctx, address) -> socket.socket:
    sock = ctx.own(socket.create_connection(address, timeout=2.0))
    sock.settimeout(None)  # the student's code decides its own timeouts
    return sock


def _judge_values(outcome, want: list[int], *, sent: str, hint: str = "read-exact"):
    if outcome.kind in ("blocked", "still-running"):
        return failed(f"your function {outcome.text()}; the response had arrived", hint=hint, sent=sent,
                      expected=text(want))
    if outcome.raised:
        error = outcome.error
        why = ""
        if _is_modbus_error(error) and getattr(error, "code", None) == 4:
            why = ("; exception 4 (server device failure) is what pymodbus answers to a request for a unit id it "
                   "does not have")
        return failed(f"your function raised {describe(error)}" + (f" at {outcome.where}" if outcome.where else "")
                      + why, hint=hint, sent=sent, expected=text(want))
    got = outcome.value
    if isinstance(got, tuple):
        got = list(got)
    if got == want:
        return passed()
    if isinstance(got, list) and len(got) == len(want) and all(isinstance(v, int) for v in got):
        if all(g == w or g == w - 0x10000 for g, w in zip(got, want)):
            return failed("registers of 32768 or more came back negative", hint="unsigned", sent=sent,
                          expected=text(want), got=text(got))
        swapped = [int.from_bytes(w.to_bytes(2, "big"), "little") for w in want]
        if got == swapped or all(g == s or g == s - 0x10000 for g, s in zip(got, swapped)):
            return failed("the registers came back with their two bytes swapped", hint="unsigned", sent=sent,
                          expected=text(want), got=text(got))
    if isinstance(got, list) and len(got) < len(want) and got == want[:len(got)]:
        return failed(f"your function returned {len(got)} of the {len(want)} registers", hint="read-exact",
                      sent=sent, expected=text(want), got=text(got))
    return failed("your function returned other registers than the PLC holds", hint=hint, sent=sent,
                  expected=text(want), got=text(got))


def _is_modbus_error(error) -> bool:
    return any(kind.__name__ == "ModbusError" for kind in type(error).__mro__)


@q2.condition("request", "the request's 12 bytes: MBAP header and PDU")
def _(student, ctx):
    unit, start, count = ctx.rng.randrange(2, 248), ctx.rng.randrange(0, 1000), ctx.rng.randrange(2, 20)
    values = _modbus_values(ctx, count)
    server, requests = _own_server(ctx, lambda conn, tid, u, s, c: conn.sendall(_mbap_response(tid, u, values)))
    outcome = ctx.call(student, _connect(ctx, server.address), unit, start, count, budget=CALL_BUDGET)
    sent = f"read_holding_registers(sock, unit={unit}, start={start}, count={count})"
    want = javautf.spaced_hex(struct.pack(">HHHBBHH", 0, 0, 6, unit, 3, start, count)).replace("00 00", "tt tt", 1)
    if not requests:
        return failed(f"your function sent no request ({outcome.text()})", hint="mbap", sent=sent,
                      expected=f"12 bytes: {want} (tt tt: a transaction id of your choice)")
    problem = _request_problem(requests[0], unit, start, count)
    if problem:
        return failed(problem[0], hint=problem[1], sent=sent,
                      expected=f"12 bytes: {want} (tt tt: a transaction id of your choice)", got=_hex(requests[0]))
    return _judge_values(outcome, values, sent=sent)


@q2.condition("ten", "a block of registers from the PLC (pymodbus on loopback)")
@_needs_plc
def _(student, ctx):
    unit = ctx.rng.randrange(1, 248)
    plc, _ = _plc(ctx, unit)
    start, count = (ctx.rng.randrange(0, REGISTERS - 10), 10) if not ctx.graded else \
        (0, REGISTERS) if ctx.rng.random() < 0.5 else (ctx.rng.randrange(0, 20), ctx.rng.randrange(5, 20))
    want = list(plc.holding_registers(start, count))
    outcome = ctx.call(student, _connect(ctx, plc.address), unit, start, count, budget=CALL_BUDGET)
    return _judge_values(outcome, want, sent=f"read_holding_registers(sock, unit={unit}, start={start}, "
                                              f"count={count}) to the PLC", hint="mbap")


@q2.condition("chunk3", "the response in 3-byte pieces (link chunk=3)")
@_needs_plc
def _(student, ctx):
    unit = ctx.rng.randrange(1, 248)
    plc, _ = _plc(ctx, unit)
    start, count = ctx.rng.randrange(0, REGISTERS - 12), ctx.rng.randrange(8, 13)
    want = list(plc.holding_registers(start, count))
    relay = ctx.link(plc.address, chunk=3, gap=0.003)
    outcome = ctx.call(student, _connect(ctx, relay.address), unit, start, count, budget=CALL_BUDGET)
    return _judge_values(outcome, want, sent=f"read_holding_registers(sock, unit={unit}, start={start}, "
                                              f"count={count}); the PLC's answer comes 3 bytes at a time")


@q2.condition("exception", "an address the PLC lacks: exception 0x83, code 2, raised as ModbusError")
@_needs_plc
def _(student, ctx):
    unit = ctx.rng.randrange(1, 248)
    plc, _ = _plc(ctx, unit)
    start = ctx.rng.randrange(1000, 60000) if ctx.graded else 5000
    sent = f"read_holding_registers(sock, unit={unit}, start={start}, count=4); the PLC has {REGISTERS} registers"
    outcome = ctx.call(student, _connect(ctx, plc.address), unit, start, 4, budget=CALL_BUDGET)
    expected = "ModbusError with .code == 2 (illegal data address)"
    if outcome.kind in ("blocked", "still-running"):
        return failed(f"your function {outcome.text()}; the PLC had answered with an exception response",
                      hint="exception", sent=sent, expected=expected)
    if outcome.returned:
        return failed(f"your function returned {text(outcome.value)} for registers the PLC does not have",
                      hint="exception", sent=sent, expected=expected)
    error = outcome.error
    if not _is_modbus_error(error):
        return failed(f"your function raised {describe(error)}, not ModbusError", hint="exception", sent=sent,
                      expected=expected, got=_kind(error))
    if getattr(error, "code", None) != 2:
        return failed(f"ModbusError.code is {getattr(error, 'code', None)!r}", hint="exception", sent=sent,
                      expected=expected, got=f"code {getattr(error, 'code', None)!r}")
    return passed("ModbusError, code 2")


@q2.condition("limit", "more than 125 registers: ValueError before sending")
def _(student, ctx):
    count = ctx.rng.choice([0, 126, 200, 2000]) if ctx.graded else 126
    server, requests = _own_server(ctx, lambda conn, tid, u, s, c: conn.sendall(_mbap_response(tid, u, [0] * 125)))
    outcome = ctx.call(student, _connect(ctx, server.address), 1, 0, count, budget=1.5)
    sent = f"read_holding_registers(sock, unit=1, start=0, count={count})"
    time.sleep(0.05)
    if outcome.raised and isinstance(outcome.error, ValueError) and not requests:
        return passed("ValueError, nothing sent")
    did = "raised ValueError" if outcome.raised and isinstance(outcome.error, ValueError) else outcome.text()
    return failed(f"your function {did}" + (f" after it had sent {len(requests[0])} bytes" if requests else ""),
                  hint="limit", sent=sent, expected="ValueError, and no request sent",
                  got=_hex(requests[0]) if requests else None)


def _stale_then_right(values, stale):
    def respond(conn, tid, unit, start, count):
        conn.sendall(_mbap_response((tid - 1) & 0xFFFF, unit, stale))  # the answer to a request long gone
        time.sleep(0.02)
        conn.sendall(_mbap_response(tid, unit, values))
    return respond


@q2.condition("stale", "a late response to an earlier request arrives first")
def _(student, ctx):
    count = ctx.rng.randrange(3, 10)
    values, stale = _modbus_values(ctx, count), _modbus_values(ctx, count)
    server, _ = _own_server(ctx, _stale_then_right(values, stale))
    outcome = ctx.call(student, _connect(ctx, server.address), 1, 0, count, budget=CALL_BUDGET)
    sent = (f"read_holding_registers(sock, unit=1, start=0, count={count}); the server answers first with a "
            f"response whose transaction id is the one before yours, then with yours")
    if outcome.returned and outcome.value in (stale, tuple(stale)):
        return failed("your function returned the registers of the stale response", hint="transaction-id",
                      sent=sent, expected=text(values), got=text(outcome.value))
    if outcome.raised and not isinstance(outcome.error, (AttributeError, TypeError, NameError, struct.error)):
        return passed(f"raised {_kind(outcome.error)} for the stale response (skipping it is better)")
    return _judge_values(outcome, values, sent=sent, hint="transaction-id")


@q2.condition("unit", "the response comes from another unit id", graded_only=True)
def _(student, ctx):
    count, unit = ctx.rng.randrange(3, 10), ctx.rng.randrange(2, 248)
    values = _modbus_values(ctx, count)

    def respond(conn, tid, asked, start, c):
        conn.sendall(_mbap_response(tid, (asked % 247) + 1, values))
        # and nothing more, with the connection kept open: a client that waits for a better answer waits in vain
    server, _ = _own_server(ctx, respond, patience=5.0)
    outcome = ctx.call(student, _connect(ctx, server.address), unit, 0, count, budget=1.5)
    sent = f"read_holding_registers(sock, unit={unit}, start=0, count={count}); the response says unit {unit % 247 + 1}"
    if outcome.raised and isinstance(outcome.error, Exception) and not isinstance(outcome.error, NotImplementedError):
        return passed(f"raised {_kind(outcome.error)}")
    if outcome.returned:
        return failed("your function returned the registers of a response from another unit", hint="unit-check",
                      sent=sent, expected="ValueError", got=text(outcome.value))
    return failed(f"your function {outcome.text()}", hint="unit-check", sent=sent, expected="ValueError")


@q2.condition("cut", "the connection closes in the middle of the response", graded_only=True)
def _(student, ctx):
    count = ctx.rng.randrange(4, 12)
    values = _modbus_values(ctx, count)
    keep = ctx.rng.randrange(9, 9 + 2 * count - 1)

    def respond(conn, tid, unit, start, c):
        conn.sendall(_mbap_response(tid, unit, values)[:keep])
        return False  # then the server closes: FIN in the middle of the response
    server, _ = _own_server(ctx, respond)
    outcome = ctx.call(student, _connect(ctx, server.address), 1, 0, count, budget=CALL_BUDGET)
    sent = (f"read_holding_registers(sock, unit=1, start=0, count={count}); the server sends {keep} of the "
            f"{9 + 2 * count} bytes of its response, then closes")
    if outcome.raised and isinstance(outcome.error, ConnectionError):
        return passed(f"raised {_kind(outcome.error)}")
    if outcome.raised:
        return failed(f"your function raised {describe(outcome.error)}, not ConnectionError", hint="eof", sent=sent,
                      expected="ConnectionError", got=_kind(outcome.error))
    if outcome.returned:
        return failed(f"your function returned {text(outcome.value)} from a response cut short", hint="eof",
                      sent=sent, expected="ConnectionError", got=text(outcome.value))
    return failed(f"your function {outcome.text()}", hint="eof", sent=sent, expected="ConnectionError")


# ====================================================================================
q3 = Question(CHAPTER, "q3", answer="parse_readings", title="Read a C sensor's binary records", section="1")

q3.hint("network-order",
        "The sender writes every field in network byte order, big-endian, as htonl() and htons() make it: "
        "struct.Struct('!IhH'), with '!' (or '>'), never the machine's own order '<' or '=' (chapter 06, "
        "section 1 'A server in C').")
q3.hint("signed",
        "temp_centi is a signed 16-bit number ('h'), so -4000 means -40.00 °C; seq is an unsigned 32-bit number "
        "('I') and flags an unsigned 16-bit one ('H'): struct.Struct('!IhH') (chapter 06, section 1).")
q3.hint("partial-recv",
        "recv() returns whatever has arrived: part of a record, or several records. Keep the bytes in a buffer, "
        "read until recv() returns b'', and cut the buffer into 8-byte records (chapter 01, section 5 "
        "'Framing').")
q3.hint("magic",
        "The first record is the magic one, seq 0x52454144 (b'READ'), not a reading: check it, and leave it "
        "out of the list you return.")
q3.hint("check-magic",
        "Check the magic before anything else: a stream whose first 4 bytes are neither b'READ' (network "
        "order) nor b'DAER' (little-endian) does not come from this protocol, and an empty one neither: raise "
        "ValueError.")
q3.hint("little-endian",
        "A sender that forgot htonl() and htons() on an x86 machine sends every field little-endian, the magic "
        "too: its first bytes are b'DAER'. Detect it there, and decode every record with '<IhH' (chapter 06, "
        "section 1 'A server in C', on htons).")
q3.hint("partial-record",
        "Bytes left at the end that do not make a whole 8-byte record mean the stream was cut: raise "
        "ValueError, naming how many bytes were left over, instead of dropping them quietly.")
q3.hint("shape",
        "Return a list of Reading(seq, temp_centi, flags), one per record after the magic, in the order they "
        "came; each field an int.")


def _readings_peer(ctx, *args: str):
    """The C sensor (or its Python stand-in) with these arguments, owned by the condition."""
    return _peer_for(ctx, "readings", "c", args, [sys.executable, "-I", "-S", PEER_SCRIPT, "readings", *args],
                     title="C")


def _parse_with(ctx, student, *, count: int, seed: int, little=False, cut=0, magic=True, mild=False, link=None):
    flags = ["--count", str(count), "--seed", str(seed)] + ["--little"] * little + ["--cut", str(cut)] * bool(cut) \
        + ["--no-magic"] * (not magic) + ["--mild"] * mild
    peer, real = _readings_peer(ctx, *flags)
    target = peer.address if link is None else ctx.link(peer.address, **link).address
    sock = _connect(ctx, target)
    outcome = ctx.call(student, sock, budget=2.5)
    sock.close()  # the sender says what it sent once the reader has closed
    said = _wait_for(peer, "sent", timeout=0.5)
    return outcome, ("the C sensor" if real else "the Python stand-in") + (f" says: {said[0]}" if said else
                                                                           " said nothing more")


def _judge_readings(outcome, want: list[tuple], *, sent: str, hint: str, said: str = ""):
    if outcome.kind in ("blocked", "still-running"):
        return failed(f"your function {outcome.text()}, after the sender had sent everything and closed",
                      hint="partial-recv", sent=sent, expected=f"{plural(len(want), 'reading')}")
    if outcome.raised:
        error = outcome.error
        return failed(f"your function raised {describe(error)}" + (f" at {outcome.where}" if outcome.where else ""),
                      hint="partial-recv" if isinstance(error, (struct.error, ConnectionError)) else
                      "check-magic" if hint == "magic" and isinstance(error, ValueError) else hint,
                      sent=sent, expected=f"{plural(len(want), 'reading')}, starting {text(want[:2])}")
    got = outcome.value
    if not isinstance(got, (list, tuple)):
        return failed(f"your function returned {type(got).__name__}, not a list", hint="shape", sent=sent,
                      expected=f"a list of {plural(len(want), 'reading')}", got=text(got))
    rows = []
    for item in got:
        try:
            rows.append(tuple(item))
        except TypeError:
            return failed(f"an item of your list is {text(item)}, not a Reading", hint="shape", sent=sent,
                          expected=f"Reading{want[0]}" if want else "an empty list", got=text(item))
    if rows == want:
        return passed(said)
    if rows and rows[0] == ch06_peers.MAGIC:
        return failed("the magic record came back as the first reading", hint="magic", sent=sent,
                      expected=text(want[:2]), got=text(rows[:2]))
    if len(rows) == len(want) - 1 and rows == want[1:]:
        return failed("the first reading is missing: two records were taken as the magic", hint="magic",
                      sent=sent, expected=text(want[:2]), got=text(rows[:2]))
    if any(len(r) != 3 for r in rows):
        return failed("a reading of yours does not have 3 fields", hint="shape", sent=sent,
                      expected=text(want[:1]), got=text(rows[:1]))
    if len(rows) == len(want):
        first = next(i for i, (r, w) in enumerate(zip(rows, want)) if r != w)
        have, need = rows[first], want[first]
        as_little = ch06_peers.LITTLE.unpack(ch06_peers.RECORD.pack(*need))
        if all(isinstance(v, int) for v in have) and (have == as_little or have[0] == as_little[0]):
            return failed(f"reading {first + 1} was decoded in the wrong byte order", hint=hint
                          if hint in ("little-endian",) else "network-order", sent=sent, expected=text(need),
                          got=text(have))
        if all(isinstance(v, int) for v in have) and all(
                h == n or h == n - (1 << bits) or h == n + (1 << bits)
                for h, n, bits in zip(have, need, (32, 16, 16))):
            return failed(f"reading {first + 1} has a field with the wrong sign", hint="signed", sent=sent,
                          expected=text(need), got=text(have))
        return failed(f"reading {first + 1} is not the one sent", hint=hint, sent=sent, expected=text(need),
                      got=text(have))
    if len(rows) < len(want) and rows == want[:len(rows)]:
        return failed(f"your function returned {len(rows)} of the {len(want)} readings", hint="partial-recv",
                      sent=sent, expected=f"{plural(len(want), 'reading')}", got=f"{plural(len(rows), 'reading')}")
    return failed(f"your function returned {plural(len(rows), 'reading')}; {len(want)} were sent", hint=hint,
                  sent=sent, expected=text(want[:3]), got=text(rows[:3]))


def _seed_with(ctx, count: int, test) -> int:
    """A seed whose readings pass `test` (say, one is below zero), drawn from the condition's rng."""
    for _ in range(200):
        seed = ctx.rng.randrange(1, 2 ** 31)
        if test(ch06_peers.readings(count, seed)):
            return seed
    raise SockcourseError(f"no seed in 200 gave {count} readings of the kind this condition needs")


def _hard(values) -> bool:
    """Readings that a wrong format code gets wrong: a negative temperature, a big seq, a high flag bit."""
    return (any(t < 0 for _, t, _ in values) and any(f >= 0x8000 for _, _, f in values)
            and any(s >= 0x80000000 for s, _, _ in values))


@q3.condition("mild", "readings in one piece, mild values")
def _(student, ctx):
    count, seed = (ctx.rng.randrange(5, 30), ctx.rng.randrange(1, 2 ** 31)) if ctx.graded else (10, 6)
    outcome, said = _parse_with(ctx, student, count=count, seed=seed, mild=True)
    return _judge_readings(outcome, ch06_peers.readings(count, seed, mild=True), hint="magic", said=said,
                           sent=f"the magic record, then {count} readings (seq 1 to {count}, 15 to 30 °C), "
                                f"then the end")


@q3.condition("signed", "below zero: temp_centi is signed, seq and flags are not")
def _(student, ctx):
    count = ctx.rng.randrange(10, 40) if ctx.graded else 12
    seed = _seed_with(ctx, count, _hard)
    outcome, said = _parse_with(ctx, student, count=count, seed=seed)
    return _judge_readings(outcome, ch06_peers.readings(count, seed), hint="signed", said=said,
                           sent=f"the magic record, then {count} readings from -40 to 85 °C, seq above 2**31, "
                                f"flags up to 0xFFFF")


@q3.condition("pieces", "records cut across segments (link chunk=5)")
def _(student, ctx):
    count, chunk = (ctx.rng.randrange(20, 60), ctx.rng.choice([3, 5, 7])) if ctx.graded else (30, 5)
    seed = ctx.rng.randrange(1, 2 ** 31)
    outcome, said = _parse_with(ctx, student, count=count, seed=seed, link={"chunk": chunk, "gap": 0.002})
    return _judge_readings(outcome, ch06_peers.readings(count, seed), hint="partial-recv", said=said,
                           sent=f"the magic record and {count} readings, {chunk} bytes per piece")


@q3.condition("cut", "the stream ends inside a record: ValueError")
def _(student, ctx):
    count, cut = (ctx.rng.randrange(3, 20), ctx.rng.randrange(1, 8)) if ctx.graded else (5, 3)
    seed = ctx.rng.randrange(1, 2 ** 31)
    outcome, _ = _parse_with(ctx, student, count=count, seed=seed, cut=cut)
    sent = f"the magic record, {count} readings, then {cut} bytes of one more, then the end"
    if outcome.raised and isinstance(outcome.error, ValueError):
        return passed("raised ValueError")
    if outcome.raised:
        return failed(f"your function raised {describe(outcome.error)}, not ValueError", hint="partial-record",
                      sent=sent, expected="ValueError", got=_kind(outcome.error))
    if outcome.returned:
        value = outcome.value
        got = plural(len(value), "reading") if isinstance(value, (list, tuple)) else text(value)
        return failed(f"your function returned {got} and said nothing of the {cut} bytes left over",
                      hint="partial-record", sent=sent, expected="ValueError")
    return failed(f"your function {outcome.text()}", hint="partial-recv", sent=sent, expected="ValueError")


def _refuses(ctx, outcome, *, sent: str, hint: str):
    if outcome.raised and isinstance(outcome.error, ValueError):
        return passed("raised ValueError")
    if outcome.raised:
        return failed(f"your function raised {describe(outcome.error)}, not ValueError", hint=hint,
                      sent=sent, expected="ValueError", got=_kind(outcome.error))
    if outcome.returned:
        return failed(f"your function returned {text(outcome.value)}", hint=hint, sent=sent, expected="ValueError")
    return failed(f"your function {outcome.text()}", hint="partial-recv", sent=sent, expected="ValueError")


@q3.condition("no-magic", "a first record that is not the magic: ValueError")
def _(student, ctx):
    count, seed = ctx.rng.randrange(4, 20), ctx.rng.randrange(1, 2 ** 31)
    outcome, _ = _parse_with(ctx, student, count=count, seed=seed, magic=False)
    return _refuses(ctx, outcome, sent=f"{count} readings with no magic record first", hint="check-magic")


@q3.condition("little", "a little-endian sender, told apart by its magic", graded_only=True)
def _(student, ctx):
    count = ctx.rng.randrange(8, 40)
    seed = _seed_with(ctx, count, _hard)
    outcome, said = _parse_with(ctx, student, count=count, seed=seed, little=True)
    return _judge_readings(outcome, ch06_peers.readings(count, seed), hint="little-endian", said=said,
                           sent=f"the magic record and {count} readings, every field little-endian "
                                f"(the first bytes are b'DAER')")


@q3.condition("silent", "a sender that closes without a byte: ValueError", graded_only=True)
def _(student, ctx):
    outcome, _ = _parse_with(ctx, student, count=0, seed=1, magic=False)
    return _refuses(ctx, outcome, sent="nothing: the sender closes at once", hint="check-magic")


QUESTIONS = [q1, q2, q3]


def summary(namespace: dict):
    """The last cell of the homework: every question checked again, one line each."""
    return _summary(QUESTIONS, namespace)
