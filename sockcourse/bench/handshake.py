"""What a connection costs before the first answer: handshakes measured across a slow link.

`measure(delay=0.05)` puts a link with `delay` seconds each way (one round
trip = 2 x delay) in front of real servers on loopback, and times, from the
client's first call to the first byte of the reply to a 4-byte request:

- "TCP": connect, send, receive. The link emulates the TCP handshake's round
  trip (`link(..., handshake=True)`), because no program on one machine can
  delay SYN and SYN+ACK: the kernel answers them itself.
- "TCP+TLS 1.2" and "TCP+TLS 1.3": the same, with a full TLS handshake (no
  resumption) pinned to that version, verified against the course's CA.
- "QUIC": aioquic over a UDP link, which delays every datagram, so QUIC's
  handshake is measured as it is, nothing emulated.
- "QUIC 0-RTT": the same, resuming a session with a ticket from an earlier
  connection, so the request rides in the very first datagram.

Each protocol is measured `repeats` times; `HandshakeCosts` keeps every
measurement, the median, the round trips (the fastest run's time / round-trip time), the
link's record of one run per protocol, for a ladder diagram, and the claims
heard in talks that the measurement is drawn beside (`claims`), so that a
picture of it needs nothing but the data it is handed.
"""

from __future__ import annotations

import socket
import ssl
import statistics
import time
from dataclasses import dataclass, field

from ..core.checks import check_seconds, check_whole
from ..core.errors import ArgumentError, ArgumentTypeError, IncompleteMessage
from ..core.sockets import recv_exactly
from ..link import Hop, link
from ..servers import handlers
from ..servers.threaded import serve
from ..tls import quic
from ..tls.ca import CertificateAuthority

#: The protocols in the order they are measured and drawn.
PROTOCOLS = ("TCP", "TCP+TLS 1.2", "TCP+TLS 1.3", "QUIC", "QUIC 0-RTT")

#: Round trips to the first byte of the reply, by the protocols' own rules:
#: the handshake's round trips (TCP 1, TLS 1.2 2 more, TLS 1.3 1 more; QUIC 1
#: for transport and TLS together, 0-RTT none), plus 1 for the request itself.
EXPECTED_ROUND_TRIPS = {"TCP": 2, "TCP+TLS 1.2": 4, "TCP+TLS 1.3": 3, "QUIC": 2, "QUIC 0-RTT": 1}

#: The claim heard in talks, for a link with a 100 ms round trip: set-up time
#: in milliseconds, as (lowest, highest), for each family of protocols.
CLAIM_MS = {"TCP": (100, 100), "TCP+TLS": (200, 300), "QUIC": (0, 100)}

#: The most times measure() repeats each protocol: a notebook must stay quick.
MAX_REPEATS = 20

#: What the client sends, and the seconds any one exchange may take.
REQUEST = b"ping"
TIMEOUT = 5.0
#: The largest delay measure() accepts, in seconds: a notebook must stay quick.
MAX_DELAY = 0.5

_TLS_VERSIONS = {"TCP+TLS 1.2": ssl.TLSVersion.TLSv1_2, "TCP+TLS 1.3": ssl.TLSVersion.TLSv1_3}


def family(protocol: str) -> str:
    """The family of protocols `protocol` belongs to, as CLAIM_MS names them: 'TCP', 'TCP+TLS' or 'QUIC'."""
    if protocol.startswith("TCP+TLS"):
        return "TCP+TLS"
    return "QUIC" if protocol.startswith("QUIC") else "TCP"


def claim_for(protocol: str) -> tuple[int, int]:
    """The claimed set-up time (low, high) in ms that applies to `protocol`."""
    return CLAIM_MS[family(protocol)]


@dataclass(frozen=True)
class Measurement:
    """One timed exchange: `seconds` from the first call to the reply's first byte."""

    protocol: str
    seconds: float
    rtt: float
    detail: str = ""

    @property
    def milliseconds(self) -> float:
        return self.seconds * 1000

    @property
    def round_trips(self) -> float:
        return self.seconds / self.rtt


@dataclass
class HandshakeCosts:
    """Every measurement of one measure() call, with what is needed to read and draw them."""

    delay: float
    measurements: list = field(default_factory=list)
    #: protocol -> (when the timed run started, in seconds on the link's clock; the link's hops)
    ladders: dict = field(default_factory=dict)
    #: family -> (low, high) set-up ms claimed for a 100 ms round trip (CLAIM_MS), drawn beside the bars
    claims: dict = field(default_factory=lambda: dict(CLAIM_MS))

    @property
    def rtt(self) -> float:
        return 2 * self.delay

    @property
    def protocols(self) -> list[str]:
        return [p for p in PROTOCOLS if any(m.protocol == p for m in self.measurements)]

    def of(self, protocol: str) -> list[Measurement]:
        found = [m for m in self.measurements if m.protocol == protocol]
        if not found:
            raise KeyError(f"No measurement of {protocol!r}; measured: {', '.join(self.protocols)}.")
        return found

    def median(self, protocol: str) -> float:
        """The median time to the first reply byte, in seconds."""
        return statistics.median(m.seconds for m in self.of(protocol))

    def fastest(self, protocol: str) -> float:
        """The shortest time to the first reply byte, in seconds."""
        return min(m.seconds for m in self.of(protocol))

    def round_trips(self, protocol: str) -> int:
        """The fastest run's time in whole round trips of the link.

        The fastest, not the median: the link's delay is a floor that every run
        pays, while a busy CPU (aioquic's handshake is Python code) only ever
        adds to it, so the fastest run is the one that shows the protocol's own
        cost. On a quiet machine the two agree.
        """
        return round(self.fastest(protocol) / self.rtt)

    def detail(self, protocol: str) -> str:
        return self.of(protocol)[-1].detail

    def rows(self) -> list[dict]:
        """One row per protocol: medians in ms and round trips, and what the protocols' rules predict."""
        return [{"protocol": p, "ms": self.median(p) * 1000, "round_trips": self.round_trips(p),
                 "expected": EXPECTED_ROUND_TRIPS[p], "setup_round_trips": self.round_trips(p) - 1,
                 "detail": self.detail(p)} for p in self.protocols]

    def table(self) -> str:
        """The rows as aligned text; times carry their unit, so they print as '201.3 ms'."""
        lines = [f"{'protocol':<12} {'first reply':>12} {'round trips':>12} {'before the request':>19}"]
        for row in self.rows():
            lines.append(f"{row['protocol']:<12} {row['ms']:>9.1f} ms {row['round_trips']:>12} "
                         f"{row['setup_round_trips']:>19}")
        return "\n".join(lines)


def _check(delay, repeats, protocols) -> tuple[float, int, tuple]:
    delay = check_seconds(delay, "delay", none_ok=False, maximum=MAX_DELAY, example=0.05)
    repeats = check_whole(repeats, "repeats", low=1, high=MAX_REPEATS, example=3)
    if isinstance(protocols, str):
        protocols = (protocols,)
    try:
        protocols = tuple(protocols)
    except TypeError:
        raise ArgumentTypeError(f"The protocols must be a list of protocol names, but got {protocols!r} "
                                f"(type {type(protocols).__name__}); for example protocols=('TCP', 'QUIC').") from None
    if not protocols:
        raise ArgumentError(f"No protocol given (protocols={protocols!r}); name at least one of "
                            f"{', '.join(map(repr, PROTOCOLS))}, or leave protocols out to measure them all.")
    for protocol in protocols:
        if not isinstance(protocol, str) or protocol not in PROTOCOLS:
            raise ArgumentError(f"Unknown protocol {protocol!r}; expected some of {', '.join(map(repr, PROTOCOLS))}, "
                                f"for example protocols=('TCP', 'QUIC').")
    return delay, repeats, tuple(p for p in PROTOCOLS if p in protocols)


def measure(*, delay: float = 0.05, repeats: int = 3, ca: CertificateAuthority | None = None,
            protocols=PROTOCOLS) -> HandshakeCosts:
    """Time each protocol's first reply across a link with `delay` seconds each way.

    ca: the CertificateAuthority for the TLS and QUIC servers; None makes a
        throw-away one for this call.
    """
    delay, repeats, protocols = _check(delay, repeats, protocols)
    if ca is not None and not isinstance(ca, CertificateAuthority):
        raise ArgumentTypeError(f"ca must be a sockcourse.tls.CertificateAuthority, but got {ca!r} "
                                f"(type {type(ca).__name__}); or leave it out for a throw-away one.")
    costs = HandshakeCosts(delay)
    own_ca = ca is None
    if own_ca:
        ca = CertificateAuthority("sockcourse handshake CA")
    try:
        tcp_like = [p for p in protocols if p.startswith("TCP")]
        quic_like = [p for p in protocols if p.startswith("QUIC")]
        if tcp_like:
            _measure_tcp(costs, tcp_like, delay, repeats, ca)
        if quic_like:
            _measure_quic(costs, quic_like, delay, repeats, ca)
    finally:
        if own_ca:
            ca.close()
    return costs


def _measure_tcp(costs: HandshakeCosts, protocols, delay, repeats, ca) -> None:
    server_context = ca.server_context()
    # No session tickets: no client here resumes, and the tickets' extra writes
    # could let Nagle's algorithm hold the reply back for a delayed ACK.
    server_context.num_tickets = 0
    with serve(handlers.echo, idle_timeout=TIMEOUT) as plain, \
            serve(handlers.echo, idle_timeout=TIMEOUT, tls=server_context) as secure:
        for protocol in protocols:
            server = plain if protocol == "TCP" else secure
            context = None
            if protocol in _TLS_VERSIONS:
                context = ca.client_context()
                context.minimum_version = context.maximum_version = _TLS_VERSIONS[protocol]
            with link(server.address, delay=delay, handshake=True) as relay:
                for _ in range(repeats):
                    relay.clear_record()
                    started = time.monotonic() - relay.started
                    seconds, detail = _tcp_exchange(relay.address, context)
                    costs.measurements.append(Measurement(protocol, seconds, costs.rtt, detail))
                costs.ladders[protocol] = (started, _settled_record(relay))


def _tcp_exchange(address, context: ssl.SSLContext | None) -> tuple[float, str]:
    started = time.perf_counter()
    with socket.create_connection(address, timeout=TIMEOUT) as raw:
        # A handshake flight may go out in several writes; without this, Nagle's
        # algorithm could hold one back until the last is acknowledged (RFC 896).
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if context is None:
            raw.sendall(REQUEST)
            first = raw.recv(1)
            seconds = time.perf_counter() - started
            _read_rest(raw, first)
            return seconds, ""
        with context.wrap_socket(raw, server_hostname="localhost") as secure:
            secure.sendall(REQUEST)
            first = secure.recv(1)
            seconds = time.perf_counter() - started
            _read_rest(secure, first)
            return seconds, f"{secure.version()}, {secure.cipher()[0]}"


def _read_rest(sock, first: bytes) -> None:
    got = first
    if first:  # b'': the server closed without a word, said below
        try:
            got += recv_exactly(sock, len(REQUEST) - len(first), what="echo", eof_ok=False)
        except IncompleteMessage as short:
            got += short.partial
    if got != REQUEST:
        raise ConnectionError(f"The echo server sent back {got!r} instead of {REQUEST!r}.")


def _measure_quic(costs: HandshakeCosts, protocols, delay, repeats, ca) -> None:
    with quic.serve(tls=ca) as server, link(server.address, transport="udp", delay=delay) as relay:
        for protocol in protocols:
            for _ in range(repeats):
                ticket = None
                if protocol == "QUIC 0-RTT":
                    # An earlier visit leaves a ticket; made directly, it is not what is timed.
                    ticket = quic.request(server.address, REQUEST, ca=ca).ticket
                    if ticket is None:
                        raise ConnectionError("The QUIC server sent no session ticket, so 0-RTT cannot be tried.")
                relay.clear_record()
                started = time.monotonic() - relay.started
                reply = quic.request(relay.address, REQUEST, ca=ca, session_ticket=ticket)
                if reply.reply != REQUEST:
                    raise ConnectionError(f"The QUIC echo server sent back {reply.reply!r} instead of {REQUEST!r}.")
                if protocol == "QUIC 0-RTT" and not reply.early_data:
                    raise ConnectionError("The QUIC server did not accept the 0-RTT data, so this would not "
                                          "measure 0-RTT; try again.")
                detail = f"TLSv1.3, {reply.cipher}" + (", 0-RTT accepted" if reply.early_data else "")
                costs.measurements.append(Measurement(protocol, reply.seconds, costs.rtt, detail))
            costs.ladders[protocol] = (started, _settled_record(relay))


def _settled_record(relay, wait: float = 0.05) -> list[Hop]:
    """The hops of the link's last connection, once its last pieces have had time to go through.

    Pieces of an earlier run that were still on their way when the record was
    cleared carry an older connection number, and are left out.
    """
    time.sleep(wait)
    hops = relay.record
    last = max((hop.conn for hop in hops), default=0)
    return [hop for hop in hops if hop.conn == last]
