"""Chapter 01 homework (TCP): framing, a line-protocol server, and a half-closed upload.

q1 `read_frames(sock)`: a generator of (kind, body) frames that survives a
   stream cut into 1-byte pieces, an end inside a frame, a reset and a
   length that announces far too much.
q2 `kv_handler(conn)`: a SET/GET server handler that answers pipelined
   commands in order, survives 1-byte pieces, refuses a line that is too
   long, and answers everything before it closes after a half-close.
q3 `upload(address, data)`: send everything, half-close, read the reply
   that the server sends only after it saw the end.

Every condition uses real sockets on loopback, and the fault-injecting link
where pieces and resets matter.
"""

from __future__ import annotations

import hashlib
import socket
import struct
import threading
import time

from ..core.errors import describe
from ..core.sockets import abort
from ..servers.threaded import serve
from .core import Question, failed, passed, plural, still_open, summary as _summary, text

CHAPTER = "01_tcp"

#: A frame: 1 byte of kind, 4 bytes of body length (big-endian), then the body.
HEADER = struct.Struct("!BI")
#: The longest body a frame may announce; q1 refuses more before reading it.
MAX_BODY = 1 << 20


def _frame(kind: int, body: bytes) -> bytes:
    return HEADER.pack(kind, len(body)) + body


def _frames(rng, count: int, largest: int = 40) -> list[tuple[int, bytes]]:
    words = [b"hello", b"world", b"socket", b"stream", b"frame", b"byte"]
    made = []
    for _ in range(count):
        body = b" ".join(rng.choice(words) for _ in range(rng.randint(1, 6)))[:largest]
        made.append((rng.randint(1, 9), body))
    return made


def _drain(student, sock):
    """Run the student's generator to its end: (frames so far, the error it ended with or None)."""
    got = []
    try:
        for item in student(sock):
            got.append(item)
            if len(got) > 100_000:
                return got, OverflowError("more than 100,000 frames from a stream that had far fewer")
    except NotImplementedError:
        raise
    except Exception as exc:  # noqa: BLE001 - how the student's code ended is what we judge
        return got, exc
    return got, None


# ====================================================================================
q1 = Question(CHAPTER, "q1", answer="read_frames", title="Read length-prefixed frames", section="5")

q1.hint("partial-recv",
        "recv(n) returns what has arrived so far, at most n bytes, not always n. Keep calling it until "
        "you hold every byte you need, for the header as for the body (chapter 01, section 5, "
        "'Framing: putting messages back on the stream').")
q1.hint("eof-is-the-end",
        "When the peer has closed, recv() returns b'' at once, every time you call it. Between two frames "
        "that is the clean end: stop there (chapter 01, section 3 'Death').")
q1.hint("eof-mid-frame",
        "b'' in the middle of a header or a body means the stream was cut short. Raise ConnectionError "
        "there instead of ending quietly or yielding a partial frame (chapter 01, section 5).")
q1.hint("check-first",
        "Check the announced length as soon as the header is in, and raise ValueError before you read "
        "the body: the peer may never send that much, and a limit is part of any framing (chapter 01, "
        "section 5, 'Framing: putting messages back on the stream').")
q1.hint("reset-is-not-eof",
        "A reset (ConnectionResetError) means the peer aborted the connection: it is neither a clean end "
        "nor a stream cut short by a FIN. Let recv()'s ConnectionResetError propagate as it is, without "
        "catching it or replacing it by an error of your own (chapter 01, section 6 'What goes wrong').")
q1.hint("empty-body",
        "A frame whose length is 0 is still a frame: yield (kind, b'') and go on. recv(0) returns b'' "
        "at once, which must not be mistaken for the peer closing (chapter 01, section 5).")
q1.hint("shape",
        "Yield each frame as a tuple (kind, body): kind an int from 0 to 255, body the bytes object, "
        "in the order they came (chapter 01, section 5).")


def _judge_frames(outcome, sent, *, what: str, partial_hint: str = "partial-recv"):
    """The verdict for a stream of whole frames that ended cleanly."""
    expected = [(kind, body) for kind, body in sent]
    if outcome.kind in ("blocked", "still-running"):
        return failed(f"your function {outcome.text()}, after the peer had sent every frame and closed",
                      hint="eof-is-the-end", sent=what, expected=f"{len(expected)} frames, then the end")
    got, error = outcome.value
    if error is not None:
        common = min(len(got), len(expected))
        wrong = _compare(got[:common], expected[:common], what=what, hint=partial_hint)
        if not wrong.passed:
            return wrong  # a frame already came back wrong: that is the first thing to fix
        hint = "eof-mid-frame" if isinstance(error, ConnectionError) else partial_hint
        return failed(f"your function raised {type(error).__name__}: {error} after {len(got)} of "
                      f"{len(expected)} frames", hint=hint, sent=what,
                      expected=text(expected[len(got)]) if len(got) < len(expected) else "the end of the stream")
    return _compare(got, expected, what=what, hint=partial_hint)


def _compare(got, expected, *, what, hint="partial-recv"):
    for index, (want, have) in enumerate(zip(expected, got)):
        if not (isinstance(have, tuple) and len(have) == 2):
            return failed(f"frame {index + 1} came back as {text(have)}, not a (kind, body) tuple",
                          hint="shape", sent=what, expected=text(want), got=text(have))
        if have != want:
            kind, body = have
            if kind == want[0] and isinstance(body, (bytes, bytearray)) and want[1].startswith(bytes(body)):
                return failed(f"frame {index + 1} came back with {len(body)} of its {len(want[1])} body bytes",
                              hint=hint, sent=what, expected=text(want), got=text(have))
            return failed(f"frame {index + 1} is not the one sent", hint=hint if index or kind != want[0]
                          else "shape", sent=what, expected=text(want), got=text(have))
    if len(got) < len(expected):
        return failed(f"your function ended after {len(got)} of {len(expected)} frames", hint=hint,
                      sent=what, expected=f"{len(expected)} frames", got=f"{len(got)} frames")
    if len(got) > len(expected):
        return failed(f"your function yielded {len(got)} frames, but only {len(expected)} were sent",
                      hint="eof-is-the-end", sent=what, expected=f"{len(expected)} frames",
                      got=f"extra: {text(got[len(expected)])}")
    return passed()


def _send_and_close(peer, *pieces: bytes) -> None:
    """Send each piece with its own sendall(), then half-close: the clean end of the stream."""
    for piece in pieces:
        peer.sendall(piece)
    peer.shutdown(socket.SHUT_WR)


@q1.condition("plain", "three frames, one send() each")
def _(student, ctx):
    frames = _frames(ctx.rng, 3)
    peer, mine = ctx.pair()
    _send_and_close(peer, *[_frame(k, b) for k, b in frames])
    return _judge_frames(ctx.call(_drain, student, mine), frames, what=f"3 frames: {text(frames)}")


@q1.condition("coalesced", "200 frames in a single sendall()")
def _(student, ctx):
    frames = _frames(ctx.rng, 200)
    peer, mine = ctx.pair()
    _send_and_close(peer, b"".join(_frame(k, b) for k, b in frames))
    return _judge_frames(ctx.call(_drain, student, mine), frames, what="200 frames in one sendall()")


@q1.condition("chunk1", "every byte in its own piece (link chunk=1, gap=2 ms)")
def _(student, ctx):
    frames = _frames(ctx.rng, 2, largest=12)
    peer, mine = ctx.pair(link={"chunk": 1, "gap": 0.002})
    _send_and_close(peer, b"".join(_frame(k, b) for k, b in frames))
    return _judge_frames(ctx.call(_drain, student, mine), frames,
                         what=f"{text(frames)}, arriving one byte at a time")


def _cut(student, ctx, *, inside: str):
    frames = _frames(ctx.rng, 2)
    whole = b"".join(_frame(k, b) for k, b in frames)
    last = _frame(7, b"this body is cut short")
    cut = last[:ctx.rng.randint(1, HEADER.size - 1)] if inside == "header" else last[:HEADER.size + 5]
    peer, mine = ctx.pair()
    _send_and_close(peer, whole + cut)
    outcome = ctx.call(_drain, student, mine)
    what = f"2 whole frames, then {len(cut)} bytes of a third ({inside} cut short), then the end"
    if outcome.kind in ("blocked", "still-running"):
        return failed(f"your function {outcome.text()}", hint="eof-mid-frame", sent=what,
                      expected="the 2 frames, then ConnectionError")
    got, error = outcome.value
    if got[:2] != frames:
        return _compare(got, frames, what=what)
    if error is None:
        ending = "ended quietly" if len(got) == 2 else f"yielded an extra, partial frame {text(got[2])}"
        return failed(f"your function {ending} where the stream was cut inside a {inside}",
                      hint="eof-mid-frame", sent=what, expected="ConnectionError after the 2 frames",
                      got=ending)
    if not isinstance(error, ConnectionError):
        return failed(f"your function raised {type(error).__name__} ({error}), not a ConnectionError",
                      hint="eof-mid-frame" if inside == "body" else "partial-recv", sent=what,
                      expected="ConnectionError (or a subclass of it)", got=type(error).__name__)
    return passed(f"raised {type(error).__name__}")


@q1.condition("eof-header", "the peer closes inside a header")
def _(student, ctx):
    return _cut(student, ctx, inside="header")


@q1.condition("eof-body", "the peer closes inside a body")
def _(student, ctx):
    return _cut(student, ctx, inside="body")


@q1.condition("too-long", "a header announcing far more than the 1 MiB limit")
def _(student, ctx):
    peer, mine = ctx.pair()
    size = ctx.rng.randint(MAX_BODY + 1, 64 << 20) if ctx.graded else 64 << 20
    peer.sendall(HEADER.pack(3, size) + b"only a few bytes")  # and never more: the peer waits
    outcome = ctx.call(_drain, student, mine, budget=1.0)
    what = f"a header announcing {size:,} bytes, then 16 bytes, and the peer waits"
    if outcome.kind in ("blocked", "still-running"):
        return failed(f"your function {outcome.text()}: it tried to read the whole body", hint="check-first",
                      sent=what, expected="ValueError at once")
    got, error = outcome.value
    if not isinstance(error, ValueError):
        return failed(f"your function ended with {text(error) if error else 'no error'} and {len(got)} frames",
                      hint="check-first", sent=what, expected="ValueError", got=type(error).__name__)
    return passed("raised ValueError before reading the body")


@q1.condition("reset", "a reset in the middle of a frame", graded_only=True)
def _(student, ctx):
    frames = _frames(ctx.rng, 3)
    whole = b"".join(_frame(k, b) for k, b in frames)
    peer, mine = ctx.pair()
    peer.sendall(whole[:ctx.rng.randint(HEADER.size + 1, len(whole) - 2)])
    time.sleep(0.05)
    abort(peer)
    outcome = ctx.call(_drain, student, mine)
    what = "part of 3 frames, then a reset (RST)"
    if outcome.kind in ("blocked", "still-running"):
        return failed(f"your function {outcome.text()}", hint="reset-is-not-eof", sent=what,
                      expected="ConnectionResetError")
    got, error = outcome.value
    if not isinstance(error, ConnectionResetError):
        return failed(f"your function ended with {type(error).__name__ if error else 'no error'}",
                      hint="reset-is-not-eof", sent=what, expected="ConnectionResetError",
                      got=text(error) if error else "a clean end")
    return passed()


@q1.condition("megabyte", "one frame of exactly 1 MiB, the largest allowed", graded_only=True, budget=6.0)
def _(student, ctx):
    body = bytes(ctx.rng.getrandbits(8) for _ in range(256)) * (MAX_BODY // 256)
    peer, mine = ctx.pair()
    sender = threading.Thread(target=_send_and_close, args=(peer, _frame(1, body)), daemon=True)
    sender.start()
    outcome = ctx.call(_drain, student, mine)
    sender.join(2.0)
    return _judge_frames(outcome, [(1, body)], what="one frame with a 1,048,576-byte body")


@q1.condition("empty", "a frame with an empty body between two others", graded_only=True)
def _(student, ctx):
    frames = _frames(ctx.rng, 2)
    frames.insert(1, (ctx.rng.randint(1, 9), b""))
    peer, mine = ctx.pair()
    _send_and_close(peer, b"".join(_frame(k, b) for k, b in frames))
    return _judge_frames(ctx.call(_drain, student, mine), frames, what=f"{text(frames)}",
                         partial_hint="empty-body")


# ====================================================================================
q2 = Question(CHAPTER, "q2", answer="kv_handler", title="A key-value server over a line protocol",
              kind="handler", section="5")

q2.hint("keep-buffer",
        "One recv() may hold several commands, or half of one. Keep the bytes you received in a buffer "
        "across recv() calls, take out every whole line (up to b'\\n'), and keep the rest for later "
        "(chapter 01, section 5, the read_line example).")
q2.hint("answer-at-once",
        "Answer each command as soon as its line is complete: a client may wait for one reply before it "
        "sends its next command, so a server that waits for more would wait for ever (chapter 01, section 5).")
q2.hint("reply-format",
        "Answer each command with exactly one line: 'OK', 'VALUE <value>', 'NOT-FOUND' or "
        "'ERR unknown command', each ending in b'\\n'. A line may end in b'\\r\\n': strip the b'\\r' too.")
q2.hint("eof-ends-commands",
        "recv() returning b'' means the client has sent its last command, not that it stopped listening: "
        "answer every whole line you already hold, then return (chapter 01, section 3 'Death').")
q2.hint("line-limit",
        "Count the bytes of a line as they come: once 1024 arrive with no b'\\n', answer "
        "'ERR line too long' and return at once, without waiting for the rest. The limit is for one line: "
        "a long line that does end within 1024 bytes is fine, and so are many short ones in one piece "
        "(chapter 01, section 5, 'Framing').")
q2.hint("incomplete-line",
        "A last line without b'\\n' before the end is incomplete: the client never finished it, so do "
        "not answer it (chapter 01, section 5).")
q2.hint("reset-ends",
        "When the client resets the connection, recv() raises ConnectionResetError; let the handler end "
        "(the server records it as the client's doing), and do not turn it into another error.")

LINE_LIMIT = 1024


class _Reference:
    """What a correct server answers, for comparing: a dict and the protocol's four replies."""

    def __init__(self):
        self.store = {}

    def answer(self, line: bytes) -> bytes:
        words = line.rstrip(b"\r").split(b" ", 2)
        if words[0] == b"SET" and len(words) == 3:
            self.store[words[1]] = words[2]
            return b"OK\n"
        if words[0] == b"GET" and len(words) == 2:
            value = self.store.get(words[1])
            return b"NOT-FOUND\n" if value is None else b"VALUE " + value + b"\n"
        return b"ERR unknown command\n"


def _commands(rng, count: int) -> list[bytes]:
    keys = [b"colour", b"port", b"name", b"fruit", b"x"]
    # Every mix starts with a value set and read back, so each reply kind is asked for.
    key = rng.choice(keys)
    made = [b"SET " + key + b" " + rng.choice([b"red", b"8080"]), b"GET " + key]
    for _ in range(count - 2):
        key = rng.choice(keys)
        made.append(rng.choice([b"SET " + key + b" " + rng.choice([b"red", b"8080", b"ada", b"a b c"]),
                                b"GET " + key, b"GET " + key, b"PING"]))
    return made


def _expected(commands: list[bytes]) -> bytes:
    reference = _Reference()
    return b"".join(reference.answer(c) for c in commands)


def _read_all(sock, limit: int = 1 << 20) -> bytes:
    return _read_to_end(sock, limit)[0]


def _read_to_end(sock, limit: int = 1 << 20) -> tuple[bytes, bool]:
    """What the peer sends until it closes, a silence as long as the socket's timeout, or `limit` bytes;
    and whether it was the peer's close (b'') that ended it."""
    data = bytearray()
    while len(data) < limit:
        try:
            chunk = sock.recv(65536)
        except (socket.timeout, ConnectionResetError):
            return bytes(data), False
        if not chunk:
            return bytes(data), True
        data += chunk
    return bytes(data), False


def _exchange(student, ctx, commands: list[bytes], *, link=None, ending=b"\n", close=True):
    """Serve the student's handler, send the commands, half-close, and read every reply."""
    server = ctx.serve(student, idle_timeout=ctx.budget)
    target = server.address if link is None else ctx.link(server, **link).address
    client = ctx.own(socket.create_connection(target, timeout=ctx.budget))
    client.sendall(b"".join(c + ending for c in commands))
    if close:
        client.shutdown(socket.SHUT_WR)
    return client, _read_all(client)


def _judge_replies(ctx, got: bytes, want: bytes, *, what: str, hint: str):
    if ctx.not_attempted:
        return passed()  # the question reports "not attempted" instead
    if got == want:
        return passed()
    got_lines, want_lines = got.split(b"\n"), want.split(b"\n")
    for index, (have, need) in enumerate(zip(got_lines, want_lines)):
        if have != need:
            # As many replies as commands, but wrong words: the format. Too few or too many: the buffer.
            wrong_words = len(got_lines) == len(want_lines) and have.split(b" ")[0] != need.split(b" ")[0]
            return failed(f"reply {index + 1} differs ({plural(len(got_lines) - 1, 'reply line')} came back, "
                          f"{len(want_lines) - 1} expected)", hint="reply-format" if wrong_words else hint,
                          sent=what, expected=text(need + b"\n") if need else "no more replies",
                          got=text(have + b"\n") if have else "nothing")
    return failed(f"{plural(len(got_lines) - 1, 'reply line')} came back, {len(want_lines) - 1} expected", hint=hint,
                  sent=what, expected=text(want), got=text(got))


@q2.condition("one-by-one", "one command per send(), answered before the next")
def _(student, ctx):
    commands = _commands(ctx.rng, 5)
    server = ctx.serve(student, idle_timeout=ctx.budget)
    client = ctx.own(socket.create_connection(server.address, timeout=ctx.budget))
    reference, got = _Reference(), b""
    for command in commands:
        client.sendall(command + b"\n")
        want = reference.answer(command)
        reply = b""
        client.settimeout(1.0)  # a reply that takes longer will not come
        while not reply.endswith(b"\n") and len(reply) < 4096:
            try:
                piece = client.recv(4096)
            except socket.timeout:
                break
            if not piece:
                break
            reply += piece
        if reply != want:
            if ctx.not_attempted:
                return passed()
            return failed(f"the reply to {text(command)} was not the expected line",
                          hint="reply-format" if reply else "answer-at-once", sent=text(command + b"\n"),
                          expected=text(want), got=text(reply) if reply else "no reply within the time limit")
        got += reply
    return passed()


@q2.condition("pipelined", "100 commands in one send(), answered in order")
def _(student, ctx):
    commands = _commands(ctx.rng, 100)
    _, got = _exchange(student, ctx, commands)
    return _judge_replies(ctx, got, _expected(commands), what="100 commands in one send(), then a half-close",
                          hint="keep-buffer")


@q2.condition("chunk1", "every byte in its own piece (link chunk=1)")
def _(student, ctx):
    commands = _commands(ctx.rng, 4)
    _, got = _exchange(student, ctx, commands, link={"chunk": 1, "gap": 0.001})
    return _judge_replies(ctx, got, _expected(commands), what=f"{text(commands)}, one byte at a time",
                          hint="keep-buffer")


@q2.condition("crlf", "lines that end in \\r\\n")
def _(student, ctx):
    commands = _commands(ctx.rng, 6)
    _, got = _exchange(student, ctx, commands, ending=b"\r\n")
    return _judge_replies(ctx, got, _expected(commands), what="6 commands, each ending in b'\\r\\n'",
                          hint="reply-format")


@q2.condition("too-long", "a 2 KiB line: 'ERR line too long', then the server closes")
def _(student, ctx):
    server = ctx.serve(student, idle_timeout=ctx.budget + 2)  # the server's own limit must not do the work
    client = ctx.own(socket.create_connection(server.address, timeout=1.0))
    client.sendall(b"SET big " + b"y" * 2040)  # no newline, and the client keeps the connection open
    got, closed = _read_to_end(client, 4096)  # until the handler closes, or 1 s of silence
    if ctx.not_attempted:
        return passed()
    if got != b"ERR line too long\n" or not closed:
        return failed("the server did not refuse the long line and close within a second", hint="line-limit",
                      sent="2,048 bytes with no newline; the client then waits",
                      expected=text(b"ERR line too long\n") + ", then the end",
                      got=(text(got) if got else "nothing") + ("" if closed else ", and the connection stayed open"))
    return passed()


@q2.condition("long-ok", "a 1,000-byte line among short ones, all in one send(), is answered")
def _(student, ctx):
    commands = _commands(ctx.rng, 6)
    value = bytes(ctx.rng.choice(b"abcdefghij") for _ in range(1000 - len(b"SET long ")))
    commands[2:2] = [b"SET long " + value, b"GET long"]
    _, got = _exchange(student, ctx, commands)
    return _judge_replies(ctx, got, _expected(commands), what="8 commands in one send(), one of them a 1,000-byte "
                          "line, then a half-close", hint="line-limit")


@q2.condition("half-close", "the client half-closes right after its last command; every reply still arrives")
def _(student, ctx):
    commands = _commands(ctx.rng, 8)
    _, got = _exchange(student, ctx, commands, link={"delay": 0.02})
    return _judge_replies(ctx, got, _expected(commands), what="8 commands, then shutdown(SHUT_WR) at once",
                          hint="eof-ends-commands")


@q2.condition("no-newline", "a last line without \\n before the end is not answered", graded_only=True)
def _(student, ctx):
    commands = _commands(ctx.rng, 3)
    server = ctx.serve(student, idle_timeout=ctx.budget)
    client = ctx.own(socket.create_connection(server.address, timeout=ctx.budget))
    client.sendall(b"".join(c + b"\n" for c in commands) + b"GET colour")
    client.shutdown(socket.SHUT_WR)
    return _judge_replies(ctx, _read_all(client), _expected(commands),
                          what="3 commands, then 'GET colour' with no newline, then the end",
                          hint="incomplete-line")


@q2.condition("reset", "the client resets in the middle of a line", graded_only=True)
def _(student, ctx):
    server = ctx.serve(student, idle_timeout=ctx.budget)
    client = socket.create_connection(server.address, timeout=ctx.budget)
    client.sendall(b"SET a 1\nGET a\nSET hal")
    time.sleep(0.1)
    abort(client)
    deadline = time.monotonic() + ctx.budget
    while not server.trace.of_kind("close") and time.monotonic() < deadline:
        time.sleep(0.02)
    if ctx.not_attempted:
        return passed()
    # The server files a reset or broken pipe under the peer; what is left is the handler's own.
    errors = [exc for exc in ctx.handler_errors() if not isinstance(exc, ConnectionError)]
    if errors:
        return failed(f"after the reset, your handler raised {type(errors[0]).__name__}: {errors[0]}",
                      hint="reset-ends", sent="two commands, half a line, then RST",
                      expected="the handler ends (a ConnectionResetError is fine)",
                      got=type(errors[0]).__name__)
    return passed()


# ====================================================================================
q3 = Question(CHAPTER, "q3", answer="upload", title="Upload, half-close, read the reply", section="3")

q3.hint("half-close",
        "The server answers only once it knows you are done. Tell it with client.shutdown(socket.SHUT_WR): "
        "your side sends FIN, but you can still read (chapter 01, section 3 'Death').")
q3.hint("close-too-early",
        "close() gives up reading as well as writing, so the reply has nowhere to go. Half-close with "
        "shutdown(socket.SHUT_WR), then read (chapter 01, section 3).")
q3.hint("read-to-end",
        "The reply may arrive late and in several pieces: read until recv() returns b'' (a pause is not "
        "the end), then join the pieces (chapter 01, section 5).")
q3.hint("close-socket",
        "Close the socket before you return, in every case: a `with socket.create_connection(...) as sock:` "
        "block does it for you, even when an error leaves the function early (chapter 01, section 3 'Death').")
q3.hint("send-everything",
        "send() may take only part of what you give it; sendall() keeps going until every byte is handed "
        "to the kernel (chapter 01, section 5 'send versus sendall').")


def _digest_server(ctx, *, slow: bool = False):
    """A server that reads until EOF, then replies with the SHA-256 hex digest in two pieces."""
    seen = {}

    def digest_handler(conn):
        hasher, count = hashlib.sha256(), 0
        while True:
            data = conn.recv(4096 if slow else 65536)
            if not data:
                break
            hasher.update(data)
            count += len(data)
            if slow:
                time.sleep(0.0005)
        seen["bytes"] = count
        reply = hasher.hexdigest().encode() + b"\n"
        conn.sendall(reply[:20])
        time.sleep(0.02)
        conn.sendall(reply[20:])

    # The check's own server: its handler is not the student's, so it is not wrapped.
    server = ctx.own(serve(digest_handler, idle_timeout=ctx.budget))
    return server, seen


def _judge_upload(ctx, outcome, data: bytes, seen: dict, *, what: str, empty_hint: str = "close-too-early"):
    want = hashlib.sha256(data).hexdigest().encode() + b"\n"
    if outcome.kind in ("blocked", "still-running"):
        return failed(f"your function {outcome.text()}; the server was still waiting for the end of the upload",
                      hint="half-close", sent=what, expected=text(want))
    if outcome.raised:
        return failed(f"your function raised {describe(outcome.error)}", hint="close-too-early",
                      sent=what, expected=text(want), where=outcome.where or None)
    if seen.get("bytes", len(data)) != len(data):
        return failed(f"the server received {seen['bytes']:,} of the {len(data):,} bytes", hint="send-everything",
                      sent=what, expected=f"{len(data):,} bytes", got=f"{seen['bytes']:,} bytes")
    got = outcome.value
    if not isinstance(got, (bytes, bytearray)):
        return failed(f"your function returned {type(got).__name__}, not bytes", hint="read-to-end", sent=what,
                      expected=text(want), got=repr(got)[:120])
    if bytes(got) != want:
        hint = empty_hint if not got else "read-to-end"
        return failed("the reply your function returned is not the whole reply the server sent", hint=hint,
                      sent=what, expected=text(want), got=text(bytes(got)))
    return passed()


@q3.condition("small", "10 bytes")
def _(student, ctx):
    server, seen = _digest_server(ctx)
    data = bytes(ctx.rng.getrandbits(8) for _ in range(10))
    return _judge_upload(ctx, ctx.call(student, server.address, data), data, seen, what=f"upload({text(data)})")


@q3.condition("delay", "through a link with 20 ms of delay each way")
def _(student, ctx):
    server, seen = _digest_server(ctx)
    relay = ctx.link(server, delay=0.02)
    data = bytes(ctx.rng.getrandbits(8) for _ in range(3000))
    return _judge_upload(ctx, ctx.call(student, relay.address, data), data, seen,
                         what="upload() of 3,000 bytes over a 40 ms round trip", empty_hint="read-to-end")


@q3.condition("big", "8 MiB to a server that reads slowly", budget=5.0)
def _(student, ctx):
    server, seen = _digest_server(ctx, slow=True)
    data = bytes(ctx.rng.getrandbits(8) for _ in range(4096)) * 2048
    return _judge_upload(ctx, ctx.call(student, server.address, data), data, seen,
                         what="upload() of 8,388,608 bytes; the server reads 4 KiB at a time")


@q3.condition("closed", "your socket is closed when upload() returns")
def _(student, ctx):
    server, seen = _digest_server(ctx)
    data = b"close me"
    opened = ctx.watch_connects(server.address[1])
    outcome = ctx.call(student, server.address, data)
    verdict = _judge_upload(ctx, outcome, data, seen, what="upload(b'close me')")
    if not verdict.passed:
        return verdict
    left = still_open(opened)
    if left:
        return failed(f"after upload() returned, {plural(len(left), 'socket')} it connected to the server "
                      f"{'was' if len(left) == 1 else 'were'} still open", hint="close-socket",
                      sent="upload(b'close me')", expected="every socket closed", got=repr(left[0])[:120])
    return passed()


@q3.condition("pieces", "the reply arrives one byte at a time (link chunk=1 towards you)", graded_only=True)
def _(student, ctx):
    server, seen = _digest_server(ctx)
    relay = ctx.link(server)
    relay.set("to_client", chunk=1, gap=0.001)
    data = bytes(ctx.rng.getrandbits(8) for _ in range(ctx.rng.randint(100, 5000)))
    return _judge_upload(ctx, ctx.call(student, relay.address, data), data, seen,
                         what=f"upload() of {len(data):,} bytes; the 65-byte reply comes one byte at a time")


QUESTIONS = [q1, q2, q3]


def summary(namespace: dict):
    """The last cell of the homework: every question checked again, one line each."""
    return _summary(QUESTIONS, namespace)
