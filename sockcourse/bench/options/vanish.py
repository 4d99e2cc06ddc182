"""SO_KEEPALIVE and TCP_INFO when a peer vanishes: both measured with the cable pulled, in a private namespace.

On the machine's own loopback a peer cannot vanish: its kernel is ours, and
it answers every keep-alive probe and acknowledges every segment. So each
experiment here runs in a child process with a network namespace of its own
(`sockcourse.peers.netns`): a private copy of the network stack whose only
interface is its own loopback. The child connects a client to a server,
then switches that loopback off. Both programs are still alive, but from
then on every packet is lost, as if someone had pulled the cable.

- `keepalive(idle, interval, count)`: two idle connections lose their
  cable. One has SO_KEEPALIVE with TCP_KEEPIDLE, TCP_KEEPINTVL and
  TCP_KEEPCNT set (tcp(7)); the other has nothing set. The first one's
  recv() fails with ETIMEDOUT after about idle + interval x count seconds;
  the second is still waiting one second later, and would wait for ever.
- `dark_path()`: a client streams to a server; the cable is out for one
  second; TCP_INFO of the sender is read every 15 ms, showing the
  congestion window fall to 1 segment, the retransmission timeout double,
  and the transfer start again only when the next (backed-off) timer fires.

`watch_keepalive()` and `stream_in_the_dark()` are the halves that run
inside the namespace (the child calls them); they refuse to run anywhere
else. Results are frozen dataclasses of plain numbers with `to_dict()`.

No option here is offered to the explorer: one keep-alive run takes at
least idle + one probe interval, two seconds or more, and the explorer's
experiments must finish within 1.5 s, so `EXPLORE` and `VALUES` are empty.
"""

from __future__ import annotations

import dataclasses
import errno
import selectors
import socket
import threading
import time
from contextlib import ExitStack
from typing import Callable

from . import Tried
from ...core.checks import check_flag, check_number, check_whole
from ...core.errors import ArgumentError
from ...kernel import options
from ...kernel.tcpinfo import tcp_info
from ...peers import netns

__all__ = ["EXPLORE", "VALUES", "DarkPath", "Keepalive", "ProbeSample", "Running", "Sample", "Watched", "dark_path",
           "keepalive", "start_dark_path", "start_keepalive", "stream_in_the_dark", "watch_keepalive"]

#: None offered: a keep-alive run cannot fit in the explorer's 1.5 s (see the module's docstring).
EXPLORE: dict[str, Callable[[object], Tried]] = {}
VALUES: dict[str, list] = {}

#: The longest keep-alive run allowed, idle + interval x count, in seconds: the cell waits all of it.
MAX_KEEPALIVE_WAIT = 20.0
#: How long the connection without keep-alive is still watched after the other noticed (or should have).
GRACE = 1.0
#: How often TCP_INFO is read while the keep-alive probes go out.
KEEPALIVE_SAMPLE_EVERY = 0.25
#: The longest a dark-path run may last, and the most samples it keeps.
MAX_DURATION = 10.0
MAX_SAMPLES = 2000
#: Seconds every single socket wait inside the namespace may take.
STEP = 0.2
#: Seconds the parent adds to a child's own run time for its start and its end.
CHILD_SLACK = 15.0

_WHERE = "sockcourse.bench.options.vanish"


# -- the results ------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Watched:
    """One idle connection after the cable was pulled: what was set, and whether its recv() ever woke up."""

    keepalive: bool                 # SO_KEEPALIVE, as read back
    idle: int | None                # TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT as read back (None: not set)
    interval: int | None
    count: int | None
    noticed: bool                   # recv() failed: the kernel gave the connection up
    seconds: float                  # when it failed, or how long it was watched without failing
    errno_name: str | None          # "ETIMEDOUT" when it failed, else None
    error: str | None               # the exception recv() raised, as Python shows it


@dataclasses.dataclass(frozen=True)
class ProbeSample:
    """TCP_INFO of the keep-alive connection at one moment after the cable was pulled."""

    t: float                        # seconds since the cable was pulled
    probes: int | None              # tcpi_probes: keep-alive probes sent and not answered
    backoff: int | None             # tcpi_backoff: doublings of the retransmission timer
    state: str                      # tcpi_state, named


@dataclasses.dataclass(frozen=True)
class Keepalive:
    """The keep-alive experiment: a connection with SO_KEEPALIVE and one without, both cut off."""

    tuned: Watched                  # the one whose options were set
    plain: Watched                  # the one left at the defaults (no keep-alive at all)
    expected: float                 # idle + interval x count: when tcp(7) says the peer is declared dead
    samples: tuple[ProbeSample, ...]
    defaults: dict                  # the machine's net.ipv4.tcp_keepalive_* (seconds, seconds, probes)

    @property
    def probe_counts(self) -> tuple[int, ...]:
        """The different values tcpi_probes went through, in order (0, 1, 2, 3 for count=3)."""
        seen = []
        for sample in self.samples:
            if sample.probes is not None and (not seen or seen[-1] != sample.probes):
                seen.append(sample.probes)
        return tuple(seen)

    @property
    def probe_times(self) -> dict[int, float]:
        """For each value of tcpi_probes above 0, when (seconds after the pull) a sample first showed it."""
        first = {}
        for sample in self.samples:
            if sample.probes:
                first.setdefault(sample.probes, sample.t)
        return first

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Keepalive":
        return cls(tuned=Watched(**data["tuned"]), plain=Watched(**data["plain"]), expected=data["expected"],
                   samples=tuple(ProbeSample(**row) for row in data["samples"]), defaults=dict(data["defaults"]))


@dataclasses.dataclass(frozen=True)
class Sample:
    """TCP_INFO of the sender at one moment of the dark-path run."""

    t: float                        # seconds since the stream began
    cwnd: int                       # tcpi_snd_cwnd, segments
    ssthresh: int                   # tcpi_snd_ssthresh, segments
    retransmits: int                # tcpi_retransmits: timeouts in a row for the oldest segment
    total_retrans: int              # tcpi_total_retrans: every retransmitted segment so far
    backoff: int                    # tcpi_backoff
    rto_ms: float                   # tcpi_rto
    rtt_ms: float                   # tcpi_rtt (smoothed)
    bytes_acked: int                # tcpi_bytes_acked
    unacked: int                    # tcpi_unacked, segments
    state: str                      # tcpi_state, named
    ca_state: str                   # tcpi_ca_state, named ("open", "CWR", "loss", ...)


@dataclasses.dataclass(frozen=True)
class DarkPath:
    """A stream whose cable was out from `dark_from` to `dark_until` (seconds), seen through TCP_INFO."""

    samples: tuple[Sample, ...]
    dark_from: float                # when lo went down, measured
    dark_until: float               # when it came up again, measured
    duration: float

    def _while_dark(self) -> list[Sample]:
        return [s for s in self.samples if self.dark_from <= s.t < self.dark_until]

    @property
    def timeouts(self) -> tuple[float, ...]:
        """When a retransmission timeout fired: the first sample at which tcpi_retransmits had grown."""
        times, before = [], 0
        for sample in self.samples:
            if sample.retransmits > before:
                times.append(sample.t)
            before = sample.retransmits
        return tuple(times)

    @property
    def rto_steps_ms(self) -> tuple[int, ...]:
        """The retransmission timeouts used in turn from the cable's pull, in whole ms (each double the last)."""
        steps = []
        for sample in self.samples:
            value = round(sample.rto_ms)
            if sample.t >= self.dark_from and (not steps or steps[-1] != value):
                steps.append(value)
            if sample.t >= self.dark_until and sample.retransmits == 0 and len(steps) > 1:
                break
        return tuple(steps)

    @property
    def smallest_cwnd_dark(self) -> int | None:
        dark = self._while_dark()
        return min(s.cwnd for s in dark) if dark else None

    @property
    def acked_while_dark(self) -> int | None:
        """Bytes acknowledged while the cable was out (0: nothing got through)."""
        dark = [s for s in self._while_dark() if s.t >= self.dark_from + 0.05]  # a last ACK may still land
        return dark[-1].bytes_acked - dark[0].bytes_acked if len(dark) > 1 else None

    @property
    def moving_again(self) -> float | None:
        """When bytes were acknowledged again after the cable was back, or None if they were not."""
        last = None
        for sample in self.samples:
            if sample.t < self.dark_until:
                last = sample.bytes_acked
                continue
            if last is not None and sample.bytes_acked > last:
                return sample.t
        return None

    def summary(self) -> dict:
        return {"timeouts": self.timeouts, "rto_steps_ms": self.rto_steps_ms,
                "smallest_cwnd_dark": self.smallest_cwnd_dark, "acked_while_dark": self.acked_while_dark,
                "moving_again": self.moving_again}

    def to_dict(self) -> dict:
        return {"samples": [dataclasses.asdict(s) for s in self.samples], "dark_from": self.dark_from,
                "dark_until": self.dark_until, "duration": self.duration, "summary": self.summary()}

    @classmethod
    def from_dict(cls, data: dict) -> "DarkPath":
        return cls(samples=tuple(Sample(**row) for row in data["samples"]), dark_from=data["dark_from"],
                   dark_until=data["dark_until"], duration=data["duration"])


# -- the checks ---------------------------------------------------------------------------
def _check_keepalive(idle, interval, count, keepalive) -> tuple[int, int, int, bool]:
    checked = []
    for name, value in (("TCP_KEEPIDLE", idle), ("TCP_KEEPINTVL", interval), ("TCP_KEEPCNT", count)):
        opt = options.lookup(name)
        word = {"TCP_KEEPIDLE": "idle", "TCP_KEEPINTVL": "interval", "TCP_KEEPCNT": "count"}[name]
        checked.append(check_whole(value, f"{word} ({name}, {opt.unit})", low=opt.low, high=opt.high,
                                   hint=f"for example {word}=1"))
    keepalive = check_flag(keepalive, "keepalive")
    idle, interval, count = checked
    if idle + interval * count > MAX_KEEPALIVE_WAIT:
        raise ArgumentError(f"With idle={idle}, interval={interval} and count={count} this experiment would wait "
                            f"{idle + interval * count} s (idle + interval x count), and it waits at most "
                            f"{MAX_KEEPALIVE_WAIT:g} s; try idle=1, interval=1, count=3.")
    return idle, interval, count, keepalive


def _check_dark(dark_at, dark_for, duration, every) -> tuple[float, float, float, float]:
    dark_at = check_number(dark_at, "dark_at (seconds)", low=0.05, high=5.0, example=0.3)
    dark_for = check_number(dark_for, "dark_for (seconds)", low=0.1, high=5.0, example=1.0)
    duration = check_number(duration, "duration (seconds)", low=0.5, high=MAX_DURATION, example=2.5)
    every = check_number(every, "every (seconds)", low=0.005, high=0.1, example=0.015)
    if dark_at + dark_for >= duration:
        raise ArgumentError(f"The cable must be back before the run ends, but dark_at={dark_at:g} + "
                            f"dark_for={dark_for:g} is not less than duration={duration:g}; "
                            f"for example dark_at=0.3, dark_for=1.0, duration=2.5.")
    return dark_at, dark_for, duration, every


def _linux_keepalive_defaults() -> dict:
    values = {}
    for name in ("tcp_keepalive_time", "tcp_keepalive_intvl", "tcp_keepalive_probes"):
        try:
            with open(f"/proc/sys/net/ipv4/{name}") as file:
                values[name] = int(file.read().strip())
        except (OSError, ValueError):
            values[name] = None
    return values


# -- the parent's side --------------------------------------------------------------------
class Running:
    """One experiment still running in its child process; `result()` waits for it and returns its result."""

    def __init__(self, child: netns.Child, build):
        self.child = child
        self._build = build

    def result(self):
        """The experiment's result; waits at most until the child's own timeout (counted from its start)."""
        return self._build(self.child.result())

    def stop(self) -> None:
        """End the child at once, if it still runs; its result is then lost."""
        self.child.stop()

    def __repr__(self) -> str:
        return f"<Running {self.child.function.rpartition(':')[2]} {'running' if self.child.running else 'ended'}>"


def start_keepalive(idle: int = 1, interval: int = 1, count: int = 3, keepalive: bool = True) -> Running:
    """Start keepalive() in the background (its child runs on its own); `.result()` waits for the Keepalive."""
    idle, interval, count, keepalive = _check_keepalive(idle, interval, count, keepalive)
    child = netns.start(f"{_WHERE}:watch_keepalive",
                        {"idle": idle, "interval": interval, "count": count, "keepalive": keepalive},
                        timeout=3 * (idle + interval * count) + GRACE + CHILD_SLACK)
    return Running(child, Keepalive.from_dict)


def start_dark_path(dark_at: float = 0.3, dark_for: float = 1.0, duration: float = 2.5,
                    every: float = 0.015) -> Running:
    """Start dark_path() in the background (its child runs on its own); `.result()` waits for the DarkPath."""
    dark_at, dark_for, duration, every = _check_dark(dark_at, dark_for, duration, every)
    child = netns.start(f"{_WHERE}:stream_in_the_dark",
                        {"dark_at": dark_at, "dark_for": dark_for, "duration": duration, "every": every},
                        timeout=duration + CHILD_SLACK)
    return Running(child, DarkPath.from_dict)


def keepalive(idle: int = 1, interval: int = 1, count: int = 3, keepalive: bool = True) -> Keepalive:
    """Pull the cable under two idle connections and see which one notices (about idle + interval x count s).

    The "tuned" connection gets TCP_KEEPIDLE=idle, TCP_KEEPINTVL=interval,
    TCP_KEEPCNT=count and, if `keepalive` is True, SO_KEEPALIVE; the "plain"
    one gets nothing. Raises netns.Unavailable where no private namespace
    can be made (netns.unavailable() says why).
    """
    running = start_keepalive(idle, interval, count, keepalive)
    try:
        return running.result()
    finally:
        running.stop()  # already ended after result(); this covers an interrupted wait


def dark_path(dark_at: float = 0.3, dark_for: float = 1.0, duration: float = 2.5, every: float = 0.015) -> DarkPath:
    """Stream through a cable that is out from dark_at to dark_at + dark_for seconds; TCP_INFO every `every` s."""
    running = start_dark_path(dark_at, dark_for, duration, every)
    try:
        return running.result()
    finally:
        running.stop()


# -- inside the namespace --------------------------------------------------------------------
def _connected_pair(stack: ExitStack, listener: socket.socket) -> socket.socket:
    client = stack.enter_context(socket.create_connection(listener.getsockname(), timeout=STEP * 10))
    server_side, _ = listener.accept()
    stack.enter_context(server_side)  # kept open: the peer is alive, only the cable is gone
    return client


def _watch(sock, since: float, failed: dict, key: str) -> None:
    try:
        data = sock.recv(1)
    except BlockingIOError:
        return
    except OSError as exc:
        failed[key] = (time.monotonic() - since, errno.errorcode.get(exc.errno), repr(exc))
        return
    # Bytes or an end of stream cannot come through a dead cable; if they do, say so.
    failed[key] = (time.monotonic() - since, None, f"recv() returned {data!r}")


def watch_keepalive(idle: int = 1, interval: int = 1, count: int = 3, keepalive: bool = True) -> Keepalive:
    """Inside a private namespace (netns.run calls it): the keep-alive experiment itself."""
    idle, interval, count, keepalive = _check_keepalive(idle, interval, count, keepalive)
    expected = float(idle + interval * count)
    samples, failed = [], {}
    with ExitStack() as stack, selectors.DefaultSelector() as selector:
        netns.set_loopback(True)
        listener = stack.enter_context(socket.create_server(("127.0.0.1", 0)))
        tuned, plain = _connected_pair(stack, listener), _connected_pair(stack, listener)
        # The four calls the chapter shows; the plain connection gets none of them.
        tuned.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1 if keepalive else 0)
        tuned.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, idle)
        tuned.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, interval)
        tuned.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, count)
        for sock, key in ((tuned, "tuned"), (plain, "plain")):
            sock.setblocking(False)
            selector.register(sock, selectors.EVENT_READ, key)
        netns.set_loopback(False)  # the cable is out
        since = time.monotonic()
        next_sample = 0.0
        for _ in range(int((3 * expected + GRACE) / 0.05) + 10):  # bounded; each turn waits 0.05 s at most
            now = time.monotonic() - since
            noticed = failed.get("tuned", (None,))[0]
            if now >= (noticed if noticed is not None else expected) + GRACE or now >= 3 * expected + GRACE:
                break
            if now >= next_sample:
                info = tcp_info(tuned)
                samples.append(ProbeSample(round(now, 3), info.probes, info.backoff, info.state))
                next_sample += KEEPALIVE_SAMPLE_EVERY
            for key, _ in selector.select(timeout=0.05):
                _watch(key.fileobj, since, failed, key.data)
                selector.unregister(key.fileobj)
        watched = time.monotonic() - since
        result = {}
        for sock, key in ((tuned, "tuned"), (plain, "plain")):
            seconds, name, error = failed.get(key, (watched, None, None))
            result[key] = Watched(keepalive=options.get(sock, "SO_KEEPALIVE"),
                                  idle=options.get(sock, "TCP_KEEPIDLE") if key == "tuned" else None,
                                  interval=options.get(sock, "TCP_KEEPINTVL") if key == "tuned" else None,
                                  count=options.get(sock, "TCP_KEEPCNT") if key == "tuned" else None,
                                  noticed=key in failed, seconds=round(seconds, 3), errno_name=name, error=error)
    return Keepalive(tuned=result["tuned"], plain=result["plain"], expected=expected, samples=tuple(samples),
                     defaults=_linux_keepalive_defaults())


class _Pump:
    """The two threads of the stream: one sends as fast as it can, one reads everything; both end at stop()."""

    def __init__(self, sender: socket.socket, receiver: socket.socket, deadline: float):
        self.stop_event = threading.Event()
        self.errors: list[str] = []
        self.deadline = deadline
        sender.settimeout(STEP)
        receiver.settimeout(STEP)
        self.threads = [threading.Thread(target=self._send, args=(sender,), name="dark-send", daemon=True),
                        threading.Thread(target=self._receive, args=(receiver,), name="dark-recv", daemon=True)]
        for thread in self.threads:
            thread.start()

    def _running(self) -> bool:
        return not self.stop_event.is_set() and time.monotonic() < self.deadline

    def _send(self, sock) -> None:
        block = bytes(65536)
        while self._running():
            try:
                sock.send(block)
            except TimeoutError:
                continue  # the send buffer is full: in the dark it stays full
            except OSError as exc:
                self.errors.append(f"send: {exc!r}")
                return

    def _receive(self, sock) -> None:
        while self._running():
            try:
                if not sock.recv(1 << 18):
                    return
            except TimeoutError:
                continue
            except OSError as exc:
                self.errors.append(f"recv: {exc!r}")
                return

    def stop(self) -> None:
        self.stop_event.set()
        for thread in self.threads:
            thread.join(4 * STEP)


def stream_in_the_dark(dark_at: float = 0.3, dark_for: float = 1.0, duration: float = 2.5,
                       every: float = 0.015) -> DarkPath:
    """Inside a private namespace (netns.run calls it): the dark-path experiment itself."""
    dark_at, dark_for, duration, every = _check_dark(dark_at, dark_for, duration, every)
    samples = []
    dark_from = dark_until = None
    with ExitStack() as stack:
        netns.set_loopback(True)
        listener = stack.enter_context(socket.create_server(("127.0.0.1", 0)))
        sender = stack.enter_context(socket.create_connection(listener.getsockname(), timeout=STEP * 10))
        receiver = stack.enter_context(listener.accept()[0])
        start = time.monotonic()
        pump = _Pump(sender, receiver, start + duration + 1.0)
        stack.callback(pump.stop)
        for _ in range(MAX_SAMPLES):
            now = time.monotonic() - start
            if now >= duration:
                break
            if dark_from is None and now >= dark_at:
                netns.set_loopback(False)
                dark_from = round(time.monotonic() - start, 4)
            elif dark_from is not None and dark_until is None and now >= dark_at + dark_for:
                netns.set_loopback(True)
                dark_until = round(time.monotonic() - start, 4)
            info = tcp_info(sender)
            samples.append(Sample(t=round(now, 4), cwnd=info.snd_cwnd, ssthresh=info.snd_ssthresh,
                                  retransmits=info.retransmits, total_retrans=info.total_retrans,
                                  backoff=info.backoff, rto_ms=info.rto_us / 1000, rtt_ms=info.rtt_us / 1000,
                                  bytes_acked=info.bytes_acked, unacked=info.unacked, state=info.state,
                                  ca_state=info.ca_state))
            time.sleep(max(0.0, every - (time.monotonic() - start - now)))
        if dark_until is None:  # a slow machine ran out of samples first: never leave the cable out
            netns.set_loopback(True)
            dark_until = round(time.monotonic() - start, 4)
    if pump.errors:
        raise RuntimeError(f"The stream broke while the cable was out: {pump.errors[0]}")
    return DarkPath(samples=tuple(samples), dark_from=dark_from if dark_from is not None else dark_until,
                    dark_until=dark_until, duration=duration)
