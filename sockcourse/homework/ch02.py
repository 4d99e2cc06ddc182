"""Chapter 02 homework (UDP): a pinger, stop-and-wait, a port probe, and the game's receiver.

q1 `ping(address, count, timeout)`: a pinger in the manner of Kurose and
   Ross's, scored against what the link really dropped, copied and held
   back: a pong that comes too late, a copy or a stranger's datagram must
   not count.
q2 `send_reliably(sock, address, chunks, timeout)`: stop-and-wait with an
   alternating bit over a link that loses and copies datagrams both ways.
q3 `probe_udp(address, timeout)`: "open", "closed" or "silent", from a
   connected UDP socket and the ICMP error it hears about.
q4 `latest_positions(sock, duration)`: the chapter's game, receiving side:
   the newest position of each player, whatever the network reordered.

Every condition runs on real sockets on loopback. Where the network's faults
matter, the datagrams go through `sockcourse.link`, whose decisions are
seeded; what a correct answer must report is computed from the link's own
record of what it did (`link.rows()`), never from the nominal rates.

The check's own UDP ends (the echo server, the receiver, the sender, the
stranger) are `_Peer`s: a socket and one thread each, owned by the
condition's Ctx and stopped when the condition ends.
"""

from __future__ import annotations

import gc
import heapq
import itertools
import math
import re
import socket
import struct
import threading
import time
import warnings

from ..core.addresses import ipv6_loopback
from ..link.limits import HOLD_LIMIT
from .core import Question, failed, passed, skipped, summary as _summary, text

CHAPTER = "02_udp"

#: How often a peer's thread looks up from its socket to send what is due or to stop, in seconds.
_TICK = 0.02
#: Slack for the scheduler of a busy machine: a pong this close to the timeout may count either way.
_MARGIN = 0.03
#: How much later than its timeout a wait may end on a busy machine before the check calls it too long.
_SLACK = 0.06


# -- the check's own UDP ends ---------------------------------------------------------------
class _Peer:
    """A UDP socket on loopback with a thread that logs what arrives and sends what is due.

    `on_datagram(peer, data, sender)` runs on that thread for each datagram;
    it answers with `peer.send(data, to, after=seconds)`. Nothing it does
    raises into the thread: a slip of the check's own script is kept in
    `errors`, and the condition turns it into a check error.
    """

    def __init__(self, on_datagram=None, *, host: str = "127.0.0.1", name: str = "peer"):
        self.sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
        try:
            self.sock.bind((host, 0))
        except OSError:
            self.sock.close()
            raise
        self.address = self.sock.getsockname()[:2]
        self.on_datagram = on_datagram
        self.received: list = []   # (monotonic time, data, sender)
        self.sent: list = []       # (monotonic time, data, to)
        self.errors: list = []
        self._due: list = []
        self._order = itertools.count()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"homework-{name}", daemon=True)
        self._thread.start()

    def send(self, data: bytes, to, after: float = 0.0) -> None:
        """Send `data` to `to` from this peer's socket, `after` seconds from now."""
        with self._lock:
            heapq.heappush(self._due, (time.monotonic() + after, next(self._order), data, to))

    def _run(self) -> None:
        while not self._stopping.is_set():
            with self._lock:
                soonest = self._due[0][0] if self._due else None
            wait = _TICK if soonest is None else min(_TICK, max(0.0005, soonest - time.monotonic()))
            try:
                self.sock.settimeout(wait)
                data, sender = self.sock.recvfrom(65535)
            except (TimeoutError, BlockingIOError, InterruptedError):
                pass
            except OSError:
                if self._stopping.is_set():
                    return
                time.sleep(0.001)  # an ICMP error about an earlier send: nothing to read
            else:
                self.received.append((time.monotonic(), data, sender))
                if self.on_datagram is not None:
                    try:
                        self.on_datagram(self, data, sender)
                    except Exception as exc:  # noqa: BLE001 - the condition reports it as the check's bug
                        self.errors.append(exc)
            self._send_due()

    def _send_due(self) -> None:
        while True:
            with self._lock:
                if not self._due or self._due[0][0] > time.monotonic():
                    return
                _, _, data, to = heapq.heappop(self._due)
            # Logged before it leaves: the student may have it, and the check may read the log, before sendto() returns.
            self.sent.append((time.monotonic(), data, to))
            try:
                self.sock.sendto(data, to)
            except OSError:
                self.sent.pop()  # (nothing else appends here) the other end went away: UDP loses it

    def raise_errors(self) -> None:
        """Raise the first slip of the check's own script, if any (it becomes a check error)."""
        if self.errors:
            raise self.errors[0]

    def stop(self, timeout: float = 1.0) -> None:
        self._stopping.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout)
        self.sock.close()


def _peer(ctx, on_datagram=None, **options) -> _Peer:
    return ctx.own(_Peer(on_datagram, **options))


def _vacant(host: str = "127.0.0.1"):
    """An address where nobody listens: bind port 0, note the port the kernel chose, close."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[:2]


def _settle(relay) -> None:
    """Wait until what the link still holds has left it, so that its record is complete."""
    worst = 0.0
    for settings in relay.settings.values():
        worst = max(worst, settings["delay"] + settings["jitter"] + (HOLD_LIMIT if settings["reorder"] else 0.0))
    time.sleep(worst + 0.02)


def _delivered(row) -> bool:
    return row["action"] not in ("dropped", "reset")


def _ms(seconds: float) -> str:
    return f"{1000 * seconds:.1f} ms"


# ====================================================================================
q1 = Question(CHAPTER, "q1", answer="ping", title="A pinger that counts what really came back", section="6")

q1.hint("format",
        "Each ping is one datagram with the text 'PING <seq> <time>' in ASCII: the word PING, the sequence "
        "number (1 for the first ping, 2 for the next, ...) and the time you sent it, separated by single "
        "spaces, for example b'PING 3 1712345678.25' (chapter 02, section 6: number your datagrams).")
q1.hint("timeout",
        "A pong may never come. Set a timeout on the socket (sock.settimeout(timeout)) and catch "
        "TimeoutError: that ping is lost, so count it and go on with the next one (chapter 02, section 2 "
        "always waits with a limit).")
q1.hint("match-seq",
        "A datagram that arrives while you wait for pong n is not always pong n: it may be a copy of an "
        "earlier pong or one that came late. Its pong is the very bytes of the ping you sent: compare the "
        "datagram with them, and drop it if it is not the same (chapter 02, section 6 'A network that "
        "loses, duplicates and reorders').")
q1.hint("keep-waiting",
        "A datagram that is not your pong does not end the wait: drop it and go on waiting for what is "
        "left of this ping's timeout (keep a deadline, and set the socket's timeout to the time left).")
q1.hint("deadline",
        "The timeout counts from the moment you sent the ping, and a datagram that is not your pong must not "
        "start it again: a stray datagram that restarts a full settimeout(timeout) makes you wait too long. "
        "Keep a deadline (send time + timeout) and before each recv set the socket's timeout to the time "
        "left; when nothing is left, the ping is lost.")
q1.hint("late-is-lost",
        "A pong that arrives after its ping's timeout has passed counts as lost, even when it shows up "
        "later: by then you had already given up on it, as the real ping program does.")
q1.hint("sender",
        "Anybody may send a datagram to your port. Answers come only from the server's address: compare "
        "the sender that recvfrom() returns, or connect() the socket to the server so that the kernel "
        "drops everyone else's datagrams (chapter 02, section 4 'A connected UDP socket', the filter).")
q1.hint("stats",
        "Compute the statistics from the pongs that did arrive: rtts holds one RTT per received ping; "
        "min, avg and max are over those RTTs only (None when none came back), and loss_percent is "
        "100 * (sent - received) / sent.")
q1.hint("shape",
        "Return a dict with the keys 'sent', 'received', 'loss_percent', 'rtts', 'min', 'avg' and 'max': "
        "counts as int, loss_percent as a percentage (25.0 for a quarter lost), every time in seconds "
        "(float), rtts a list in the order the pings were sent.")

REPORT_KEYS = ("sent", "received", "loss_percent", "rtts", "min", "avg", "max")


def _parse_ping(data: bytes):
    """The sequence number of a well-formed ping, else None."""
    parts = data.split(b" ")
    if len(parts) != 3 or parts[0] != b"PING":
        return None
    try:
        seq = int(parts[1])
        float(parts[2])
    except ValueError:
        return None
    return seq


class _Pinged:
    """What the student's pings and the pongs they got did, in time order: the ground truth.

    `pings` is every distinct ping (data, the time it was sent), in the order
    they first appeared; `pongs` maps a ping's data to the times a copy of
    its pong reached the student's socket.
    """

    def __init__(self):
        self.pings: list = []
        self.pongs: dict = {}

    @classmethod
    def from_link(cls, relay) -> "_Pinged":
        found = cls()
        seen = set()
        for row in relay.rows():
            if row["direction"] == "to_server" and row["data"] not in seen:
                seen.add(row["data"])
                # t is when the datagram left the link (or died); less `held`, when it came in.
                found.pings.append((row["data"], relay.started + row["t"] - row["held"]))
            elif row["direction"] == "to_client" and _delivered(row):
                found.pongs.setdefault(row["data"], []).append(relay.started + row["t"])
        return found

    @classmethod
    def from_server(cls, server: _Peer) -> "_Pinged":
        # Every pong goes back to the socket its ping came from (one socket per ping is fine too).
        found = cls()
        seen = set()
        for when, data, sender in server.received:
            if data not in seen:
                seen.add(data)
                found.pings.append((data, when))
        for when, data, to in server.sent:
            found.pongs.setdefault(data, []).append(when)
        return found

    def fates(self, timeout: float) -> tuple[int, int]:
        """(pongs surely in time, pongs too close to the timeout to tell): a correct count lies in between."""
        sure = unsure = 0
        for data, sent in self.pings:
            waits = [when - sent for when in self.pongs.get(data, [])]
            first = min(waits, default=None)
            if first is None or first > timeout + _MARGIN:
                continue
            if first < timeout - _MARGIN:
                sure += 1
            else:
                unsure += 1
        return sure, unsure


def _field(report, key):
    if isinstance(report, dict):
        return report[key]
    return getattr(report, key)


def _judge_ping(ctx, outcome, truth: _Pinged, *, count: int, timeout: float, what: str,
                min_rtt: float = 0.0, too_many: str = "match-seq", error_hint: str = "shape",
                strict_seq: bool = False, prompt: bool = False):
    """The verdict on a ping report, from what the link (or the server) saw happen."""
    call = f"ping(address, count={count}, timeout={timeout})"
    if outcome.kind in ("blocked", "still-running"):
        return failed(f"{call} {outcome.text()}", hint="timeout", sent=what,
                      expected=f"a report within about {count * timeout:.1f} s")
    if outcome.raised:
        error = outcome.error
        hint = ("timeout" if isinstance(error, TimeoutError) else
                "stats" if isinstance(error, (ZeroDivisionError, ArithmeticError)) or "statistics" in
                type(error).__module__ else error_hint)
        return failed(f"{call} {outcome.text()}", hint=hint, sent=what, expected="a report (a dict)")
    report = outcome.value
    try:
        values = {key: _field(report, key) for key in REPORT_KEYS}
    except (KeyError, AttributeError, TypeError):
        missing = [k for k in REPORT_KEYS if not (isinstance(report, dict) and k in report)]
        return failed(f"the report is {text(report)}, without {', '.join(repr(k) for k in missing)}",
                      hint="shape", sent=what, expected=f"a dict with the keys {', '.join(REPORT_KEYS)}")
    rtts = values["rtts"]
    if not isinstance(rtts, (list, tuple)) or not all(isinstance(r, (int, float)) for r in rtts):
        return failed(f"report['rtts'] is {text(rtts)}, not a list of numbers", hint="shape", sent=what,
                      expected="a list of RTTs in seconds, one per received ping")
    # The pings themselves: one well-formed, distinct datagram per ping.
    seqs = [_parse_ping(data) for data, _ in truth.pings]
    bad = [data for data, seq in zip((d for d, _ in truth.pings), seqs) if seq is None]
    if bad:
        return failed(f"the server could not read your ping {text(bad[0])}", hint="format", sent=what,
                      expected="b'PING <seq> <time>', for example b'PING 1 1712345678.25'", got=text(bad[0]))
    if len(truth.pings) != count:
        return failed(f"the server saw {len(truth.pings)} different pings, but count was {count}", hint="format",
                      sent=what, expected=f"{count} pings, each with its own sequence number",
                      got=f"{len(truth.pings)}: {text([d for d, _ in truth.pings][:4])}")
    if strict_seq and seqs != list(range(1, count + 1)):
        return failed(f"the pings' sequence numbers were {seqs}", hint="format", sent=what,
                      expected=f"1 to {count}, in order", got=text(seqs))
    if values["sent"] != count:
        return failed(f"report['sent'] is {text(values['sent'])}, but you sent {count} pings", hint="stats",
                      sent=what, expected=str(count), got=text(values["sent"]))
    sure, unsure = truth.fates(timeout)
    received = values["received"]
    if not isinstance(received, int):
        return failed(f"report['received'] is {text(received)}, not a whole number", hint="shape", sent=what,
                      expected=f"{sure}")
    wanted = str(sure) if not unsure else f"{sure} to {sure + unsure} (some pongs came right at the timeout)"
    if received > sure + unsure:
        late = [r for r in rtts if r > timeout]
        hint = "late-is-lost" if late and too_many == "match-seq" else too_many
        return failed(f"you counted {received} pongs, but only {wanted} came back in time for their own ping",
                      hint=hint, sent=what, expected=f"received == {wanted}", got=f"received == {received}")
    if received < sure:
        return failed(f"you counted {received} pongs, but {wanted} came back in time for their own ping",
                      hint="keep-waiting" if received else "timeout", sent=what,
                      expected=f"received == {wanted}", got=f"received == {received}")
    if prompt:
        # Each ping waits at most `timeout` from its send, so the next one follows within that (plus slack for a
        # busy machine); a wait restarted by a stray datagram shows as a longer gap.
        for number, ((_, sent), (_, following)) in enumerate(zip(truth.pings, truth.pings[1:]), 1):
            if following - sent > timeout + _SLACK:
                return failed(f"ping {number + 1} went out {_ms(following - sent)} after ping {number}, although "
                              f"the timeout is {_ms(timeout)}", hint="deadline", sent=what,
                              expected=f"each ping at most {_ms(timeout)} after the one before",
                              got=f"{_ms(following - sent)} between pings {number} and {number + 1}")
    if len(rtts) != received:
        return failed(f"report['rtts'] has {len(rtts)} entries for {received} received pings", hint="stats",
                      sent=what, expected=f"{received} RTTs", got=text(list(rtts)))
    # The counts are right, so no late pong was counted: an RTT longer than the timeout is in other units
    # (milliseconds, most likely), not a latecomer.
    if rtts and max(rtts) > timeout + _MARGIN:
        return failed(f"an RTT of {text(max(rtts))} is longer than the timeout of {timeout} s, although you "
                      f"counted only the pongs that came in time", hint="shape", sent=what,
                      expected="RTTs in seconds (0.012 for 12 ms)", got=text(list(rtts)))
    short = [r for r in rtts if r < min_rtt - 0.005]
    if short:
        return failed(f"an RTT of {_ms(short[0])} is shorter than the link's round trip of {_ms(min_rtt)}: "
                      f"that pong was already waiting when you sent the ping", hint="match-seq", sent=what,
                      expected=f"every RTT at least {_ms(min_rtt)}", got=text([round(r, 4) for r in rtts]))
    percent = 100.0 * (count - received) / count
    if not isinstance(values["loss_percent"], (int, float)) or abs(values["loss_percent"] - percent) > 0.01:
        return failed(f"report['loss_percent'] is {text(values['loss_percent'])} for {count - received} of "
                      f"{count} lost", hint="stats", sent=what, expected=f"{percent:.2f}",
                      got=text(values["loss_percent"]))
    if rtts:
        want = {"min": min(rtts), "avg": sum(rtts) / len(rtts), "max": max(rtts)}
        for key, value in want.items():
            have = values[key]
            if not isinstance(have, (int, float)) or not math.isclose(have, value, rel_tol=1e-6, abs_tol=1e-9):
                return failed(f"report[{key!r}] is {text(have)}, but the {key} of your own rtts is {value:.6f}",
                              hint="stats", sent=what, expected=f"{value:.6f}", got=text(have))
    else:
        for key in ("min", "avg", "max"):
            if values[key] is not None:
                return failed(f"no pong came back, yet report[{key!r}] is {text(values[key])}", hint="stats",
                              sent=what, expected="None", got=text(values[key]))
    return passed(f"{received} of {count} pongs in time" + (f", RTT {_ms(want['min'])} to {_ms(want['max'])}"
                                                          if rtts else ""))


def _echo(peer, data, sender):
    peer.send(data, sender)


def _run_ping(student, ctx, *, count: int, timeout: float, what: str, min_rtt: float = 0.0,
              error_hint: str = "shape", **faults):
    """Ping the check's echo server through a link with `faults`; judge from the link's record."""
    server = _peer(ctx, _echo, name="echo")
    relay = ctx.link(server.address, transport="udp", **faults.pop("both", {}))
    for direction in ("to_server", "to_client"):
        if direction in faults:
            relay.set(direction, **faults[direction])
    budget = count * (timeout + 0.05) + 1.5
    outcome = ctx.call(student, relay.address, count, timeout, budget=budget)
    _settle(relay)
    server.raise_errors()
    return _judge_ping(ctx, outcome, _Pinged.from_link(relay), count=count, timeout=timeout, what=what,
                       min_rtt=min_rtt, error_hint=error_hint)


@q1.condition("plain", "a few pings to an echo server on a perfect link")
def _(student, ctx):
    count = ctx.rng.randint(4, 8) if ctx.graded else 5
    server = _peer(ctx, _echo, name="echo")
    outcome = ctx.call(student, server.address, count, 0.5, budget=count * 0.5 + 1.5)
    server.raise_errors()
    return _judge_ping(ctx, outcome, _Pinged.from_server(server), count=count, timeout=0.5,
                       what=f"{count} pings, every one answered at once", strict_seq=True)


@q1.condition("loss", "a link that loses 25 % of datagrams each way (seeded)", budget=5.0)
def _(student, ctx):
    count = ctx.rng.randint(14, 20) if ctx.graded else 16
    return _run_ping(student, ctx, count=count, timeout=0.15, both={"loss": 0.25},
                     what=f"{count} pings through a link with loss=0.25 both ways; timeout 0.15 s")


@q1.condition("duplicate", "a link that copies 40 % of the pongs and loses 10 % of the pings, 20 ms of delay "
                            "each way", budget=5.0)
def _(student, ctx):
    count = ctx.rng.randint(10, 14) if ctx.graded else 12
    return _run_ping(student, ctx, count=count, timeout=0.2, min_rtt=0.04, both={"delay": 0.02},
                     to_client={"duplicate": 0.4}, to_server={"loss": 0.1},
                     what=f"{count} pings; the link copies 40 % of the pongs, loses 10 % of the pings and delays "
                          f"each way by 20 ms")


@q1.condition("late", "one pong arrives after its timeout, during the next ping's wait")
def _(student, ctx):
    count = ctx.rng.randint(5, 8) if ctx.graded else 6
    timeout = 0.2
    held = ctx.rng.randint(2, count - 2)  # by arrival: the pong of this ping is late, the next gets none
    late = 0.15  # well into the next ping's wait, so that a wait it restarts ends clearly too late
    arrivals: list = []

    def late_echo(peer, data, sender):
        if data not in arrivals:
            arrivals.append(data)
        number = arrivals.index(data) + 1
        if number == held:
            peer.send(data, sender, after=timeout + late)
        elif number != held + 1:
            peer.send(data, sender)

    server = _peer(ctx, late_echo, name="late-echo")
    outcome = ctx.call(student, server.address, count, timeout, budget=count * timeout + 2.0)
    server.raise_errors()
    return _judge_ping(ctx, outcome, _Pinged.from_server(server), count=count, timeout=timeout, prompt=True,
                       what=f"{count} pings, timeout {timeout} s; the pong of ping {held} comes {_ms(late)} after "
                            f"its timeout, and ping {held + 1} gets no answer")


@q1.condition("stats", "RTTs that vary (10 to 40 ms each way) and 30 % of pings lost", budget=5.0)
def _(student, ctx):
    count = ctx.rng.randint(10, 14) if ctx.graded else 12
    return _run_ping(student, ctx, count=count, timeout=0.2, min_rtt=0.02, both={"delay": 0.01, "jitter": 0.03},
                     to_server={"loss": 0.3},
                     what=f"{count} pings; 10 to 40 ms of delay each way, 30 % of pings lost")


@q1.condition("all-lost", "every ping is lost", graded_only=True)
def _(student, ctx):
    count = ctx.rng.randint(2, 4)
    return _run_ping(student, ctx, count=count, timeout=0.1, to_server={"loss": 1.0}, error_hint="stats",
                     what=f"{count} pings through a link that loses every one")


@q1.condition("stranger", "a stranger sends datagrams to your port, one a copy of your ping", graded_only=True)
def _(student, ctx):
    count = ctx.rng.randint(4, 7)
    timeout = 0.2
    unanswered = ctx.rng.randint(2, count - 1)
    stranger = _peer(ctx, name="stranger")
    arrivals: list = []

    def echo_but_one(peer, data, sender):
        if data not in arrivals:
            arrivals.append(data)
        if arrivals.index(data) + 1 == unanswered:
            # The server stays silent; halfway through the wait a stranger sends a greeting and then the ping
            # itself back (halfway, so that a wait they restart ends clearly too late).
            stranger.send(b"hello from a stranger", sender, after=timeout / 2)
            stranger.send(data, sender, after=timeout / 2 + 0.01)
        else:
            peer.send(data, sender)

    server = _peer(ctx, echo_but_one, name="echo")
    outcome = ctx.call(student, server.address, count, timeout, budget=count * timeout + 2.0)
    server.raise_errors()
    return _judge_ping(ctx, outcome, _Pinged.from_server(server), count=count, timeout=timeout,
                       too_many="sender", error_hint="sender", prompt=True,
                       what=f"{count} pings; ping {unanswered} gets no answer from the server, but another "
                            f"socket sends b'hello from a stranger' and a copy of that ping to your port, "
                            f"{_ms(timeout / 2)} after it")


@q1.condition("reorder", "a link that holds back 40 % of the pongs, some past their timeout", graded_only=True,
              budget=5.0)
def _(student, ctx):
    count = ctx.rng.randint(10, 14)
    return _run_ping(student, ctx, count=count, timeout=0.1, min_rtt=0.04, both={"delay": 0.02},
                     to_client={"reorder": 0.4, "loss": 0.1},
                     what=f"{count} pings, timeout 0.1 s; the link delays 20 ms each way and holds back 40 % "
                          f"of the pongs until the next one (or 0.2 s)")


# ====================================================================================
q2 = Question(CHAPTER, "q2", answer="send_reliably", title="Stop-and-wait over a lossy link", section="6")

q2.hint("format",
        "Each data datagram is the letter D, then one byte holding the sequence number (the byte 0 or the "
        "byte 1, bytes([seq]), not the character '0'), then the chunk: b'D' + bytes([seq]) + chunk. An "
        "ACK is b'A' + bytes([seq]). str(seq).encode() gives the character, b'0', which is the byte 48 "
        "(chapter 02, section 6 numbers its datagrams in binary too, with struct).")
q2.hint("retransmit",
        "A datagram may be lost on the way there, or its ACK on the way back. Wait for the ACK at most "
        "`timeout` seconds (sock.settimeout(timeout)); when the time is up, send the same datagram "
        "again, with the same sequence number, until its ACK comes (chapter 02, section 6).")
q2.hint("alternate",
        "The sequence number says 'new chunk' or 'the same chunk again': it alternates 0, 1, 0, 1 from one "
        "chunk to the next (the first chunk has 0), and a retransmission keeps the number of the chunk it "
        "repeats. The receiver throws away a datagram whose number it has already seen.")
q2.hint("timer",
        "The timeout counts from the last send of the chunk, not from the last datagram you received: an old "
        "ACK must not start the wait again. Keep a deadline (send time + timeout), before each recv set the "
        "socket's timeout to the time left, and send again when nothing is left.")
q2.hint("check-ack",
        "Only an ACK that carries the sequence number of the chunk in flight acknowledges it. An ACK with "
        "the other number is a copy or a latecomer about the chunk before: ignore it and keep waiting "
        "(chapter 02, section 6: the network duplicates and reorders).")
q2.hint("sorcerer",
        "Do not send the chunk again when an old ACK arrives: that copy is answered by another ACK, which "
        "makes you send again, and every chunk after it goes twice. Retransmit only when the timeout "
        "expires (RFC 1123, section 4.2.3.1, calls this the Sorcerer's Apprentice).")
q2.hint("eager",
        "You send again before an ACK could possibly be back. Wait the `timeout` you are given, which is "
        "longer than the link's round trip, before you retransmit.")
q2.hint("wait-for-ack",
        "Wait *for* the ACK and go on the moment it arrives: a recvfrom() with a timeout returns as soon "
        "as a datagram is there, while a fixed sleep() makes every chunk cost the full timeout.")
q2.hint("iterable",
        "`chunks` may be any iterable of bytes, a generator too: go through it once with a for loop, "
        "without len() or indexing.")

_ACK = struct.Struct("!cB")


class _Receiver:
    """The check's correct stop-and-wait receiver, with an optional script of its own faults.

    drop: indexes (in arrival order, from 0) of data datagrams it pretends
    never came. echo_ack: {chunk index: seconds}: after the ACK that delivers
    that chunk, send the same ACK again that much later (a late copy).
    """

    def __init__(self, *, drop=(), echo_ack=None):
        self.expected = 0
        self.delivered: list[bytes] = []
        self.malformed: list[bytes] = []
        self.arrivals = 0
        self.drop = set(drop)
        self.echo_ack = dict(echo_ack or {})

    def __call__(self, peer, data, sender):
        if len(data) < 2 or data[:1] != b"D" or data[1] not in (0, 1):
            self.malformed.append(data)
            return
        number, self.arrivals = self.arrivals, self.arrivals + 1
        if number in self.drop:
            return
        seq, ack = data[1], b"A" + data[1:2]
        if seq == self.expected:
            self.delivered.append(data[2:])
            self.expected ^= 1
            again = self.echo_ack.get(len(self.delivered) - 1)
            if again is not None:
                peer.send(ack, sender, after=again)
        peer.send(ack, sender)


def _chunks(rng, count: int) -> list[bytes]:
    words = [b"alpha", b"bravo", b"charlie", b"delta", b"echo", b"foxtrot", b"golf", b"hotel"]
    return [b"%d:" % index + b"-".join(rng.choice(words) for _ in range(rng.randint(1, 4)))
            for index in range(count)]


def _transmissions(relay) -> list[dict]:
    """Every datagram the sender sent (the link's copies left out), with the time it reached the link."""
    found = []
    for row in relay.rows():
        if row["direction"] == "to_server" and row["action"] != "duplicated":
            found.append({"t": row["t"] - row["held"], "data": row["data"]})
    # A datagram the link held back is written down when it leaves; it was sent when it came in.
    return sorted(found, key=lambda send: send["t"])


def _ack_rows(relay) -> list[tuple[float, bytes]]:
    """Every ACK the link passed on to the sender: (when, data)."""
    return [(row["t"], row["data"]) for row in relay.rows() if row["direction"] == "to_client" and _delivered(row)]


def _judge_transfer(ctx, outcome, chunks: list[bytes], receiver: _Receiver, relay, *, what: str, timeout: float,
                    ideal: float | None = None, prompt: bool = False):
    """The verdict on one transfer, from what the receiver got and what crossed the link."""
    call = "send_reliably(sock, address, chunks, timeout)"
    sends = _transmissions(relay)
    if receiver.malformed:
        stuck = (f"; it answered none of them, and your function was still waiting for an ACK after "
                 f"{outcome.seconds:.1f} s" if outcome.kind in ("blocked", "still-running") else "")
        return failed(f"the receiver could not read the datagram {text(receiver.malformed[0])}{stuck}", hint="format",
                      sent=what, expected="b'D' + bytes([seq]) + chunk, seq 0 or 1",
                      got=text(receiver.malformed[0]))
    if outcome.raised:
        error = outcome.error
        hint = ("iterable" if isinstance(error, (TypeError, IndexError)) else
                "retransmit" if isinstance(error, TimeoutError) else "format")
        return failed(f"{call} {outcome.text()}", hint=hint, sent=what, expected="it returns once every chunk "
                      "is acknowledged")
    index_of = {chunk: i for i, chunk in enumerate(chunks)}
    for send in sends:
        chunk = bytes(send["data"][2:])
        if chunk in index_of and send["data"][1] != index_of[chunk] % 2:
            i = index_of[chunk]
            return failed(f"chunk {i + 1} went out with sequence number {send['data'][1]}", hint="alternate",
                          sent=what, expected=f"sequence number {i % 2} for chunk {i + 1}",
                          got=text(bytes(send["data"])))
    if outcome.kind in ("blocked", "still-running") or receiver.delivered != chunks:
        got = receiver.delivered
        ended = outcome.text() if not outcome.returned else "returned"
        lost = next((i for i, chunk in enumerate(chunks) if chunk not in got), None)
        hint = "retransmit"
        if lost is not None and outcome.returned:
            tries = [s for s in sends if bytes(s["data"][2:]) == chunks[lost]]
            later = [s for s in sends if bytes(s["data"][2:]) in chunks[lost + 1:]]
            if tries and later and later[0]["t"] - tries[-1]["t"] < 0.85 * timeout:
                hint = "check-ack"  # it went on at once: it took some other ACK for this chunk's
        if outcome.kind in ("blocked", "still-running"):
            message = f"{call} {ended}; the receiver had {len(got)} of {len(chunks)} chunks"
        elif lost is not None:
            message = f"your function returned, but chunk {lost + 1} of {len(chunks)} never reached the receiver"
        else:
            message = "the receiver got the chunks in another order or more than once"
        return failed(message, hint=hint, sent=what, expected=f"{len(chunks)} chunks: {text(chunks)}",
                      got=f"{len(got)} delivered: {text(got)}")
    # Stop-and-wait sends chunk i+1 only after chunk i's ACK came back (after chunk i first went out).
    acks = _ack_rows(relay)
    first_try = {}
    for send in sends:
        first_try.setdefault(bytes(send["data"][2:]), send["t"])
    for i in range(1, len(chunks)):
        previous, start = first_try.get(chunks[i - 1]), first_try.get(chunks[i])
        if previous is None or start is None:
            continue
        ack = b"A" + bytes([(i - 1) % 2])
        if not any(previous < t < start and data == ack for t, data in acks):
            return failed(f"chunk {i + 1} went out before any ACK of chunk {i} had come back", hint="retransmit",
                          sent=what, expected=f"{text(ack)} back before the first try of chunk {i + 1}",
                          got=f"no ACK {text(ack)} between the first tries of chunks {i} and {i + 1}")
    # Early retransmissions: the same chunk again well before its timeout had passed. Before the first ACK
    # ever came back, only the sender's own short timer can cause one; later, with the network copying or
    # holding back ACKs, the likely cause is the sender's reaction to an old ACK.
    early = before_any_ack = 0
    first_ack = min((t for t, _ in acks), default=math.inf)
    last_send: dict = {}
    for send in sends:
        key = bytes(send["data"])
        before = last_send.get(key)
        if before is not None and send["t"] - before < 0.5 * timeout:
            early += 1
            before_any_ack += send["t"] < first_ack
        last_send[key] = send["t"]
    copied = receiver.echo_ack or any(row["direction"] == "to_client" and row["action"] in ("duplicated", "reordered")
                                      for row in relay.rows())
    if early > 1:
        hint = "sorcerer" if copied and not before_any_ack else "eager"
        return failed(f"{early} of your {len(sends)} datagrams repeated a chunk less than {_ms(timeout / 2)} after "
                      f"the previous try, for a transfer of {len(chunks)} chunks", hint=hint, sent=what,
                      expected=f"a retransmission only after the {_ms(timeout)} timeout",
                      got=f"{len(sends)} datagrams sent")
    if prompt:
        # A retransmission is due `timeout` after the try before it, unless this chunk's ACK came in between.
        previous: dict = {}
        for send in sends:
            key = bytes(send["data"])
            before = previous.get(key)
            previous[key] = send["t"]
            ack = b"A" + key[1:2]
            if before is None or any(before < t < send["t"] and data == ack for t, data in acks):
                continue
            if send["t"] - before > timeout + _SLACK:
                i = index_of.get(key[2:], 0)
                return failed(f"chunk {i + 1} went out again {_ms(send['t'] - before)} after its previous try, "
                              f"although its timeout is {_ms(timeout)} and no ACK of it had come", hint="timer",
                              sent=what, expected=f"the retransmission {_ms(timeout)} after the previous try",
                              got=_ms(send["t"] - before))
    if ideal is not None and outcome.seconds > 3 * ideal + 0.2:
        return failed(f"the transfer took {outcome.seconds:.2f} s; with no loss it needs about {ideal:.2f} s",
                      hint="wait-for-ack", sent=what, expected=f"at most {3 * ideal + 0.2:.2f} s",
                      got=f"{outcome.seconds:.2f} s")
    return passed(f"{len(chunks)} chunks in {len(sends)} datagrams, {outcome.seconds:.2f} s")


def _transfer(student, ctx, *, count: int, timeout: float, what: str, receiver: _Receiver | None = None,
              as_generator: bool = False, chunks: list[bytes] | None = None, ideal=None, budget=None,
              prompt: bool = False, **faults):
    receiver = receiver or _Receiver()
    server = _peer(ctx, receiver, name="receiver")
    relay = ctx.link(server.address, transport="udp", **faults.pop("both", {}))
    for direction in ("to_server", "to_client"):
        if direction in faults:
            relay.set(direction, **faults[direction])
    sock = ctx.own(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
    sock.bind(("127.0.0.1", 0))
    chunks = chunks if chunks is not None else _chunks(ctx.rng, count)
    given = (chunk for chunk in chunks) if as_generator else list(chunks)
    outcome = ctx.call(student, sock, relay.address, given, timeout, budget=budget)
    _settle(relay)
    server.raise_errors()
    return _judge_transfer(ctx, outcome, chunks, receiver, relay, what=what, timeout=timeout, ideal=ideal,
                           prompt=prompt)


@q2.condition("plain", "a few chunks over a perfect link")
def _(student, ctx):
    count = ctx.rng.randint(4, 8) if ctx.graded else 5
    return _transfer(student, ctx, count=count, timeout=0.2, what=f"{count} chunks, no loss, timeout 0.2 s")


@q2.condition("data-loss", "30 % of the data datagrams lost (seeded)")
def _(student, ctx):
    count = ctx.rng.randint(10, 14) if ctx.graded else 12
    return _transfer(student, ctx, count=count, timeout=0.05, to_server={"loss": 0.3},
                     what=f"{count} chunks; the link loses 30 % of the data datagrams; timeout 0.05 s")


@q2.condition("ack-loss", "30 % of the ACKs lost (seeded)")
def _(student, ctx):
    count = ctx.rng.randint(10, 14) if ctx.graded else 12
    return _transfer(student, ctx, count=count, timeout=0.05, to_client={"loss": 0.3},
                     what=f"{count} chunks; the link loses 30 % of the ACKs; timeout 0.05 s")


@q2.condition("old-ack", "a late copy of an ACK arrives while the next chunk is lost")
def _(student, ctx):
    count = ctx.rng.randint(5, 8) if ctx.graded else 6
    at = ctx.rng.randint(1, count - 3)
    timeout, again = 0.15, 0.09
    # The ACK of chunk `at` comes again during the next chunk's wait, whose first try is lost: a sender that
    # takes it for new goes on too early, one that resends at once repeats itself, one whose timer it
    # restarts resends too late.
    receiver = _Receiver(drop={at + 1}, echo_ack={at: again})
    return _transfer(student, ctx, count=count, timeout=timeout, receiver=receiver, prompt=True,
                     what=f"{count} chunks, timeout {timeout} s; the ACK of chunk {at + 1} arrives twice, "
                          f"{_ms(again)} apart, and the first try of chunk {at + 2} is lost")


@q2.condition("duplicate", "30 % of datagrams copied both ways, 10 % of data lost", budget=4.0)
def _(student, ctx):
    count = ctx.rng.randint(14, 18) if ctx.graded else 16
    return _transfer(student, ctx, count=count, timeout=0.05, both={"duplicate": 0.3}, to_server={"loss": 0.1},
                     what=f"{count} chunks; the link copies 30 % of the datagrams both ways and loses 10 % of "
                          f"the data; timeout 0.05 s")


@q2.condition("delay", "50 ms of delay each way: no early retransmission, no waiting more than needed",
              budget=4.0)
def _(student, ctx):
    count = ctx.rng.randint(3, 5) if ctx.graded else 4
    return _transfer(student, ctx, count=count, timeout=0.4, both={"delay": 0.05}, ideal=count * 0.1,
                     what=f"{count} chunks; the link delays each way by 50 ms (a 100 ms round trip); "
                          f"timeout 0.4 s")


# Not reordering: with a one-bit sequence number, stop-and-wait is correct only on a path that keeps the
# order of datagrams. One old data datagram held back behind the next chunk carries the number the receiver
# expects next and is taken for new (the alternating-bit protocol assumes a FIFO channel), so no answer of
# this exercise could pass such a condition.
@q2.condition("rough", "varying delay, loss and copies, both ways", graded_only=True, budget=4.0)
def _(student, ctx):
    count = ctx.rng.randint(10, 14)
    return _transfer(student, ctx, count=count, timeout=0.08,
                     both={"delay": 0.005, "jitter": 0.02, "loss": 0.15, "duplicate": 0.15},
                     what=f"{count} chunks; both ways the link delays 5 to 25 ms, loses 15 % and copies 15 % of "
                          f"the datagrams; timeout 0.08 s")


@q2.condition("generator", "chunks from a generator, one empty and one of 1,200 bytes", graded_only=True)
def _(student, ctx):
    chunks = _chunks(ctx.rng, ctx.rng.randint(6, 9))
    chunks.insert(ctx.rng.randint(1, len(chunks) - 1), b"")
    chunks.insert(ctx.rng.randint(1, len(chunks) - 1), bytes(ctx.rng.getrandbits(8) for _ in range(1200)))
    return _transfer(student, ctx, count=len(chunks), timeout=0.05, chunks=chunks, as_generator=True,
                     both={"loss": 0.2},
                     what=f"{len(chunks)} chunks from a generator (one b'', one of 1,200 bytes); the link loses "
                          f"20 % both ways; timeout 0.05 s")


# ====================================================================================
q3 = Question(CHAPTER, "q3", answer="probe_udp", title="Is anybody there? Probe a UDP port", section="4")

q3.hint("values",
        "Return exactly one of the three strings 'open', 'closed' or 'silent' (lower case): what a datagram "
        "to the port can tell you (chapter 02, sections 3 and 4).")
q3.hint("send",
        "connect() on a UDP socket sends nothing (chapter 02, section 4), and a UDP server answers only the "
        "datagrams it gets: send a probe datagram (any bytes, b'probe' say), then wait for the answer.")
q3.hint("connect",
        "An unconnected UDP socket never hears about ICMP errors, so a closed port looks just like a silent "
        "one. connect() the socket to the address first: then the 'port unreachable' comes back as "
        "ConnectionRefusedError on your next call (chapter 02, section 4, 'Errors come back').")
q3.hint("refused",
        "ConnectionRefusedError is not a failure of your function: it is the answer 'closed'. Catch it "
        "around the send and the receive (the error about one datagram is raised by the call after it).")
q3.hint("timeout",
        "A silent port never answers: set a timeout (sock.settimeout(timeout)) before you wait, and when "
        "TimeoutError comes, the answer is 'silent' (chapter 02, section 2).")
q3.hint("except-order",
        "TimeoutError and ConnectionRefusedError are both kinds of OSError. Catch the specific ones "
        "(except TimeoutError: ..., except ConnectionRefusedError: ...) before any except OSError, or a "
        "silent port is taken for a closed one.")
q3.hint("wait",
        "A server may take a while to answer: wait for the whole `timeout` you are given before you call "
        "the port silent.")
q3.hint("filter",
        "Any socket may send to your port. An answer counts only if it comes from the address you probed: "
        "a connected socket receives nothing from anyone else (chapter 02, section 4, the filter).")
q3.hint("close",
        "Close the socket before you return, on every path: a `with socket.socket(...) as sock:` block does it "
        "for you, even when you return from inside it. An open socket keeps its port until the program ends.")
q3.hint("family",
        "The address may be IPv6, such as ('::1', port). Make the socket of the family the host needs: "
        "socket.AF_INET6 when the host contains ':' (or take the family from socket.getaddrinfo) "
        "(chapter 02, section 10 'UDP over IPv6').")

PROBE_ANSWERS = ("open", "closed", "silent")


def _judge_probe(outcome, want: str, *, what: str, timeout: float, within: float | None = None,
                 error_hint: str = "refused", server: _Peer | None = None):
    call = f"probe_udp(address, timeout={timeout})"
    if server is not None and not server.received and not outcome.raised:
        return failed(f"{call} {outcome.text()}, but no datagram reached the server", hint="send", sent=what,
                      expected=f"a probe datagram, then {want!r}", got="the server received nothing")
    if outcome.kind in ("blocked", "still-running"):
        return failed(f"{call} {outcome.text()}", hint="timeout", sent=what, expected=repr(want))
    if outcome.raised:
        error = outcome.error
        hint = ("timeout" if isinstance(error, TimeoutError) else
                "refused" if isinstance(error, ConnectionRefusedError) else error_hint)
        return failed(f"{call} {outcome.text()}", hint=hint, sent=what, expected=repr(want))
    got = outcome.value
    if got not in PROBE_ANSWERS:
        return failed(f"{call} returned {text(got)}", hint="values", sent=what, expected=repr(want), got=text(got))
    if got != want:
        hint = {("closed", "silent"): "connect", ("silent", "closed"): "except-order",
                ("open", "silent"): "wait", ("silent", "open"): "filter"}.get((want, got), "values")
        return failed(f"{call} returned {got!r} for a port that is {want}", hint=hint, sent=what,
                      expected=repr(want), got=repr(got))
    if within is not None and outcome.seconds > within:
        return failed(f"{call} took {outcome.seconds:.2f} s to say {got!r}", hint="connect", sent=what,
                      expected=f"{want!r} within {within} s", got=f"{outcome.seconds:.2f} s")
    return passed(f"{got!r} in {outcome.seconds:.2f} s")


def _still_bound(address) -> bool:
    """Whether some socket still holds this UDP address: binding it again fails while one does."""
    try:
        with socket.socket(socket.AF_INET6 if ":" in address[0] else socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind(address[:2])
    except OSError:
        return True
    return False


@q3.condition("open", "an echo server: 'open', and your socket closed")
def _(student, ctx):
    timeout = round(ctx.rng.uniform(0.3, 0.6), 2) if ctx.graded else 0.5
    server = _peer(ctx, _echo, name="echo")
    what = "a port where an echo server answers at once"
    # A socket left unclosed but unreferenced is closed by Python as the function returns, with a
    # ResourceWarning: recorded here, to tell it from a socket the code closed itself.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        outcome = ctx.call(student, server.address, timeout, budget=timeout + 2.0)
    verdict = _judge_probe(outcome, "open", timeout=timeout, server=server, what=what)
    yours = server.received[0][2] if server.received else None
    # The warning names the socket's own address: laddr=('127.0.0.1', port), or ('0.0.0.0', port) unbound.
    dropped = [w for w in caught if yours is not None and issubclass(w.category, ResourceWarning)
               and re.search(rf"laddr=\('[^']*', {yours[1]}\b", str(w.message))]
    for w in caught:
        if w not in dropped:  # someone else's: pass it on to the check's own record
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno, source=w.source)
    if not verdict.passed:
        return verdict
    if dropped:
        return failed(f"probe_udp returned 'open' without closing the socket it sent from ({yours[0]!r}, port "
                      f"{yours[1]}): Python found it unreferenced and closed it", hint="close", sent=what,
                      expected="the socket closed when probe_udp returns", got="a ResourceWarning: unclosed socket")
    if _still_bound(yours):
        # A socket in a reference cycle waits for the collector: give it that chance before blaming the code.
        gc.collect()
        if _still_bound(yours):
            return failed(f"probe_udp returned 'open', but the socket it sent from ({yours[0]!r}, port "
                          f"{yours[1]}) is still open", hint="close", sent=what,
                          expected="the socket closed when probe_udp returns", got="it still holds its port")
    return verdict


@q3.condition("closed", "a port where nobody listens: 'closed', within 0.5 s")
def _(student, ctx):
    address = _vacant()
    # Can this machine hear an ICMP "port unreachable" at all? Ask it first, on the same port.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as mine:
        mine.settimeout(0.5)
        mine.connect(address)
        try:
            mine.send(b"anybody?")
            mine.recv(64)
            hears = False
        except ConnectionRefusedError:
            hears = True
        except OSError:
            hears = False
    if not hears:
        return skipped("this machine does not report ICMP 'port unreachable' to a connected UDP socket, so a "
                       "closed port cannot be told from a silent one here")
    timeout = 1.0
    outcome = ctx.call(student, address, timeout, budget=timeout + 2.0)
    return _judge_probe(outcome, "closed", timeout=timeout, within=0.5,
                        what="a UDP port on this machine where no socket is bound")


@q3.condition("silent", "a server that reads and never answers: 'silent' after the timeout")
def _(student, ctx):
    timeout = round(ctx.rng.uniform(0.2, 0.4), 2) if ctx.graded else 0.3
    server = _peer(ctx, name="discard")
    outcome = ctx.call(student, server.address, timeout, budget=timeout + 1.5)
    return _judge_probe(outcome, "silent", timeout=timeout, within=timeout + 0.5, server=server,
                        what=f"a server that reads every datagram and never answers; timeout {timeout} s")


@q3.condition("slow", "an echo server that takes about 0.25 s to answer: still 'open'")
def _(student, ctx):
    delay = round(ctx.rng.uniform(0.2, 0.3), 2) if ctx.graded else 0.25
    timeout = 0.6

    def slow_echo(peer, data, sender):
        peer.send(data, sender, after=delay)

    server = _peer(ctx, slow_echo, name="slow-echo")
    outcome = ctx.call(student, server.address, timeout, budget=timeout + 2.0)
    return _judge_probe(outcome, "open", timeout=timeout, server=server,
                        what=f"an echo server that answers {_ms(delay)} after each datagram; timeout {timeout} s")


@q3.condition("stranger", "a silent server, while a stranger sends to your port: 'silent'", graded_only=True)
def _(student, ctx):
    timeout = round(ctx.rng.uniform(0.2, 0.35), 2)
    stranger = _peer(ctx, name="stranger")

    def tell_stranger(peer, data, sender):
        stranger.send(b"not the server", sender, after=0.02)

    server = _peer(ctx, tell_stranger, name="discard")
    outcome = ctx.call(student, server.address, timeout, budget=timeout + 1.5)
    return _judge_probe(outcome, "silent", timeout=timeout,
                        what="a server that never answers; another socket sends b'not the server' to your port")


@q3.condition("ipv6", "an echo server on the IPv6 loopback ::1: 'open'", graded_only=True)
def _(student, ctx):
    if not ipv6_loopback(socket.SOCK_DGRAM):
        return skipped("this machine has no IPv6 loopback (::1), so the IPv6 probe cannot run here")
    timeout = 0.5
    server = _peer(ctx, _echo, host="::1", name="echo6")
    outcome = ctx.call(student, server.address, timeout, budget=timeout + 2.0)
    return _judge_probe(outcome, "open", timeout=timeout, error_hint="family",
                        what=f"an echo server at {server.address!r}")


# ====================================================================================
q4 = Question(CHAPTER, "q4", answer="latest_positions", title="The game: keep each player's newest position",
              section="9")

q4.hint("newest-wins",
        "The network may deliver an older update after a newer one. Keep, for each player, the update with "
        "the highest sequence number, not the one that arrived last (chapter 02, section 9: number the "
        "updates and use the newest).")
q4.hint("gaps",
        "A missing sequence number means an update was lost; that is normal for UDP and not a reason to "
        "stop listening to the player. Any update newer than the one you hold replaces it, whatever the gap.")
q4.hint("duration",
        "Return after `duration` seconds, however many datagrams keep coming: compute a deadline at the "
        "start, and before each recv set the socket's timeout to the time left; when it runs out, return.")
q4.hint("wrap",
        "The sequence number has 16 bits, so after 65535 comes 0. Compare in serial number arithmetic "
        "(RFC 1982): b is newer than a when (b - a) % 65536 is between 1 and 32767.")
q4.hint("garbage",
        "Not every datagram on the port is an update: skip every datagram whose length is not exactly 12 "
        "bytes, before you unpack it. Receive with a buffer larger than 12 (recv(2048), say): a buffer of 12 "
        "cuts a longer datagram down to 12 bytes without a word, and it looks like an update (chapter 02, "
        "section 5 'A buffer that is too small').")
q4.hint("shape",
        "Return a dict that maps each player number (an int) to its newest position as a tuple (x, y) of "
        "the two floats from the update.")

#: An update: player (unsigned 16 bits), sequence number (unsigned 16 bits), x and y (32-bit floats).
UPDATE = struct.Struct("!HHff")
#: How long after `duration` latest_positions may return (a busy machine's scheduler) before it is too late.
_LATE = 0.15
#: How long after `duration` the steady sender stays quiet: a fixed poll timeout shows as a late return.
_PAUSE = 0.35


def _newer(a: int, b: int) -> bool:
    """Whether sequence number b is newer than a, with wrap-around (RFC 1982, 16 bits)."""
    return 0 < (b - a) % 65536 < 32768


def _positions_truth(relay) -> dict:
    """Each player's newest update the link delivered, by sequence number: {player: (x, y)}."""
    best: dict = {}
    for row in relay.rows():
        if row["direction"] != "to_server" or not _delivered(row) or row["nbytes"] != UPDATE.size:
            continue
        player, seq, x, y = UPDATE.unpack(row["data"])
        if player not in best or _newer(best[player][0], seq):
            best[player] = (seq, (x, y))
    return {player: position for player, (_, position) in best.items()}


def _updates(rng, players: int, rounds: int, *, start: int = 0) -> list[bytes]:
    """Every player's updates, round by round; each player runs around a circle of its own."""
    made = []
    phase = {p: rng.uniform(0, 6.28) for p in range(1, players + 1)}
    for n in range(rounds):
        for player in range(1, players + 1):
            angle = phase[player] + n / 8
            made.append(UPDATE.pack(player, (start + n) % 65536, round(math.cos(angle) * 100, 2),
                                    round(math.sin(angle) * 100, 2)))
    return made


#: How many of the last rounds _rotate_last reorders (and _play sends back to back at the end).
TAIL_ROUNDS = 3


def _rotate_last(updates: list[bytes], players: int) -> list[bytes]:
    """The last three rounds reordered, as the network might: each player's newest update, then the two before it.

    Sent as n, n-2, n-1, the last arrival (n-1) is newer than the one just before it (n-2): an answer that
    compares with the update that arrived last, rather than with the one it keeps, takes it.
    """
    head, tail = updates[:-TAIL_ROUNDS * players], updates[-TAIL_ROUNDS * players:]
    rotated = []
    for player in range(players):
        rotated += [tail[2 * players + player], tail[player], tail[players + player]]
    return head + rotated


def _xy(position) -> str:
    """A position as the update's sender wrote it: the 32-bit floats' noise rounded away."""
    if all(isinstance(v, (int, float)) for v in position):
        return "(" + ", ".join(f"{round(v, 3)!r}" for v in position) + ")"
    return text(position)


def _judge_positions(outcome, truth: dict, *, duration: float, what: str, error_hint: str = "shape",
                     wrong_hint: str = "newest-wins", extra_hint: str = "shape"):
    call = f"latest_positions(sock, duration={duration})"
    if outcome.kind in ("blocked", "still-running"):
        return failed(f"{call} {outcome.text()}", hint="duration", sent=what,
                      expected=f"a dict after {duration} s")
    if outcome.raised:
        hint = "garbage" if isinstance(outcome.error, struct.error) else (
            "duration" if isinstance(outcome.error, TimeoutError) else error_hint)
        return failed(f"{call} {outcome.text()}", hint=hint, sent=what, expected=f"a dict after {duration} s")
    if outcome.seconds < duration - 0.05:
        return failed(f"{call} returned after {outcome.seconds:.2f} s", hint="duration", sent=what,
                      expected=f"to return after {duration} s", got=f"{outcome.seconds:.2f} s")
    if outcome.seconds > duration + _LATE:
        return failed(f"{call} returned only after {outcome.seconds:.2f} s", hint="duration", sent=what,
                      expected=f"to return after {duration} s", got=f"{outcome.seconds:.2f} s")
    got = outcome.value
    if not isinstance(got, dict) or not all(isinstance(v, (tuple, list)) and len(v) == 2 for v in got.values()):
        return failed(f"{call} returned {text(got)}", hint="shape", sent=what,
                      expected="a dict {player: (x, y)}", got=text(got))
    if set(got) != set(truth):
        hint = extra_hint if set(got) - set(truth) else "shape"
        # Numbers first, in order, then anything else a wrong answer used as a key.
        yours = sorted(got, key=lambda p: (0, p, "") if isinstance(p, int) else (1, 0, repr(p)))
        return failed(f"the players in your dict are {text(yours)}", hint=hint, sent=what,
                      expected=f"players {sorted(truth)}", got=text(yours))
    for player in sorted(truth):
        want, have = truth[player], tuple(got[player])
        if not all(isinstance(v, (int, float)) and math.isclose(v, w, abs_tol=1e-3) for v, w in zip(have, want)):
            return failed(f"player {player}'s position is {_xy(have)}, but its newest delivered update says "
                          f"{_xy(want)}", hint=wrong_hint, sent=what, expected=f"{player}: {_xy(want)}",
                          got=f"{player}: {_xy(have)}")
    return passed(f"{len(truth)} players, each at its newest position")


def _play(student, ctx, updates: list[bytes], *, what: str, duration: float = 0.6, settings=None, tail=None,
          keep_sending: bytes | None = None, garbage=(), **judge):
    """Send `updates` through a link to the student's socket while it listens for `duration` seconds.

    tail: link settings for the last TAIL_ROUNDS rounds, sent back to back at the end;
    keep_sending: a datagram sent again every 20 ms until the student's function returns, except in a pause
    from 40 ms before the end of `duration` to 350 ms after it;
    garbage: datagrams a stranger sends straight to the student's socket, twice on the way.
    """
    sock = ctx.own(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
    sock.bind(("127.0.0.1", 0))
    relay = ctx.link(sock.getsockname(), transport="udp", **(settings or {}))
    sender = ctx.own(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
    stranger = ctx.own(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
    for unbound in (sender, stranger):
        # Bound here, on loopback: a first sendto() would otherwise bind it to every interface.
        unbound.bind(("127.0.0.1", 0))
    done = threading.Event()
    players = len({UPDATE.unpack(u)[0] for u in updates})
    cut = len(updates) - TAIL_ROUNDS * players if tail is not None else len(updates)
    begun = time.monotonic()
    pause = (begun + duration - 0.04, begun + duration + _PAUSE)

    def send_all():
        try:
            play()
        except OSError:
            pass  # the check shut its sockets because the student's code ran out of time

    def play():
        # Spread over 0.2 s, so that what the link holds back (0.2 s at most) is out well before the end.
        gap = 0.2 / max(1, cut)
        for number, update in enumerate(updates[:cut]):
            sender.sendto(update, relay.address)
            if number in (1, cut // 2):
                for junk in garbage:
                    stranger.sendto(junk, sock.getsockname())
            time.sleep(gap)
        if tail is not None:
            relay.set("to_server", **tail)
            for update in updates[cut:]:
                sender.sendto(update, relay.address)
        while keep_sending is not None and not done.wait(0.02):
            if not pause[0] <= time.monotonic() <= pause[1]:
                sender.sendto(keep_sending, relay.address)

    thread = threading.Thread(target=send_all, name="homework-players", daemon=True)
    thread.start()
    try:
        outcome = ctx.call(student, sock, duration, budget=duration + 1.0)
    finally:
        done.set()
        thread.join(2.0)
    return _judge_positions(outcome, _positions_truth(relay), duration=duration, what=what, **judge)


@q4.condition("plain", "a few players' updates over a perfect link")
def _(student, ctx):
    players, rounds = (ctx.rng.randint(2, 5), ctx.rng.randint(8, 14)) if ctx.graded else (3, 12)
    return _play(student, ctx, _updates(ctx.rng, players, rounds),
                 what=f"{players} players x {rounds} updates, in order, none lost")


@q4.condition("reorder", "30 % held back, and each player's newest update arrives before the two sent before it")
def _(student, ctx):
    players, rounds = (ctx.rng.randint(2, 5), ctx.rng.randint(10, 16)) if ctx.graded else (3, 14)
    updates = _rotate_last(_updates(ctx.rng, players, rounds), players)
    return _play(student, ctx, updates, settings={"reorder": 0.3}, tail={"reorder": 0.0},
                 what=f"{players} players x {rounds} updates; the link holds back 30 % until the next one, and "
                      f"each player's last three updates arrive newest first, then the other two in order")


@q4.condition("loss", "30 % of updates lost (seeded)")
def _(student, ctx):
    players, rounds = (ctx.rng.randint(2, 5), ctx.rng.randint(10, 16)) if ctx.graded else (3, 14)
    return _play(student, ctx, _updates(ctx.rng, players, rounds), settings={"loss": 0.3}, wrong_hint="gaps",
                 what=f"{players} players x {rounds} updates; the link loses 30 %")


@q4.condition("steady", "updates keep coming past the duration, after a pause just before the end: return on time")
def _(student, ctx):
    players, rounds = (ctx.rng.randint(2, 4), ctx.rng.randint(6, 10)) if ctx.graded else (2, 8)
    updates = _updates(ctx.rng, players, rounds)
    return _play(student, ctx, updates, keep_sending=updates[-1],
                 what=f"{players} players x {rounds} updates, then the last one again every 20 ms without end, but "
                      f"for a pause from 40 ms before the end of the duration to {_ms(_PAUSE)} after it")


@q4.condition("wrap", "sequence numbers that pass 65535 and start again at 0", graded_only=True)
def _(student, ctx):
    players, rounds = ctx.rng.randint(2, 4), ctx.rng.randint(10, 14)
    updates = _updates(ctx.rng, players, rounds, start=65536 - rounds // 2)
    return _play(student, ctx, updates, settings={"reorder": 0.2}, wrong_hint="wrap",
                 what=f"{players} players x {rounds} updates numbered {65536 - rounds // 2} ... 65535, 0, 1, ...")


@q4.condition("garbage", "datagrams of other sizes arrive on the port too", graded_only=True)
def _(student, ctx):
    players, rounds = ctx.rng.randint(2, 4), ctx.rng.randint(8, 12)
    return _play(student, ctx, _updates(ctx.rng, players, rounds), garbage=[b"hello", b"x" * 13, b""],
                 error_hint="garbage", extra_hint="garbage",
                 what=f"{players} players x {rounds} updates, and datagrams of 5, 13 and 0 bytes from elsewhere")


QUESTIONS = [q1, q2, q3, q4]


def summary(namespace: dict):
    """The last cell of the homework: every question checked again, one line each."""
    return _summary(QUESTIONS, namespace)
