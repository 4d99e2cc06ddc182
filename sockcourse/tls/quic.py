"""QUIC on loopback with aioquic: an echo server and a one-request client.

QUIC (RFC 9000) is a transport of its own on UDP. It carries the TLS 1.3
handshake messages in its CRYPTO frames, not in TLS records, and protects
its packets itself: the first ones under keys derived from the connection
ID, the rest under keys the TLS handshake hands it (RFC 9001, sections 4
and 5). So one round trip sets up both the connection and its encryption; a client
that kept a session ticket from an earlier connection may send its request
in the very first datagram (0-RTT). aioquic is a real implementation of it,
written on asyncio.

A notebook cell cannot call asyncio.run() (Jupyter's own loop is running), so
every asyncio loop here runs on a background thread owned by an object that
stops it: `serve()` starts a server with a loop of its own, and `request()`
runs each client connection on a short-lived loop that it stops before it
returns. Cells only ever call plain functions. Certificates come from a
`sockcourse.tls.CertificateAuthority`, and the client verifies the server
against it, host name included. Short idle timeouts make a mistake fail in
seconds rather than hang.

The server's UDP socket is bound here (core.binding), on loopback, and handed
to aioquic's server protocol, so its address is read from our own socket and
a bind that fails is said in the course's words.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading
import time
from dataclasses import dataclass

from aioquic.asyncio.protocol import QuicConnectionProtocol
from aioquic.asyncio.server import QuicServer as _AioquicServer
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.connection import QuicConnection
from aioquic.quic.events import ConnectionTerminated, HandshakeCompleted, StreamDataReceived
from aioquic.tls import SessionTicket

from ..core.addresses import family_for, peer_text
from ..core.binding import BoundSocket, open_socket
from ..core.checks import check_loopback_host, check_port, check_seconds, check_target
from ..core.errors import ArgumentError, ArgumentTypeError, CourseBugError, MissingFileError, SockcourseError
from ..core.lifecycle import Endpoint
from ..core.limits import START_TIMEOUT, STOP_TIMEOUT
from ..core.loopthread import LoopThread, within
from ..core.trace import Trace
from .ca import Certificate, CertificateAuthority

#: The application protocol both ends name in the handshake (ALPN); QUIC requires one.
ALPN = "sockcourse-echo"
#: Seconds a QUIC connection may stay silent before either end drops it.
IDLE_TIMEOUT = 2.0
#: Seconds request() waits for the whole reply.
REQUEST_TIMEOUT = 5.0
#: Seconds the client waits after the reply for a session ticket (for a later 0-RTT).
TICKET_WAIT = 0.5

# aioquic logs on the "quic" logger; without a handler of its own, Python's
# last-resort handler would print its warnings to stderr from a background
# thread, into whichever notebook cell happens to run.
logging.getLogger("quic").addHandler(logging.NullHandler())


class QuicError(SockcourseError):
    """A QUIC connection failed; `reason` is what the QUIC stack said, `error_code` its code."""

    def __init__(self, message: str, reason: str = "", error_code: int = 0):
        super().__init__(message)
        self.reason = reason
        self.error_code = error_code


class _NoReply(Exception):
    """Raised on the client's loop when time is up; turned into TimeoutError once off the loop.

    A TimeoutError raised by the coroutine itself would look, to the loop
    thread's own wait, like that wait running out (concurrent.futures'
    TimeoutError is the builtin one since Python 3.11), and be reworded
    with the wrong number of seconds.
    """


def _server_certificate(tls) -> Certificate:
    if isinstance(tls, CertificateAuthority):
        return tls.server_cert
    if isinstance(tls, Certificate):
        return tls
    raise ArgumentTypeError(f"A QUIC server needs tls= a CertificateAuthority or a Certificate from "
                            f"sockcourse.tls, but got {tls!r} (type {type(tls).__name__}); for example "
                            f"quic.serve(tls=sockcourse.tls.CertificateAuthority()).")


def _trusted_ca(ca) -> dict:
    if isinstance(ca, CertificateAuthority):
        return {"cadata": ca.cert_pem}
    if isinstance(ca, (str, os.PathLike)):
        path = os.fspath(ca)
        if not os.path.isfile(path):
            raise MissingFileError(f"The CA file {path!r} does not exist; pass the CertificateAuthority "
                                   f"itself (ca=ca) or its file (ca=ca.ca_file).")
        return {"cafile": path}
    raise ArgumentTypeError(f"The client must know which CA to trust: ca= a CertificateAuthority or the path of "
                            f"its PEM file, but got {ca!r} (type {type(ca).__name__}); for example ca=ca.")


def _check_ticket(ticket):
    if ticket is not None and not isinstance(ticket, SessionTicket):
        raise ArgumentTypeError(f"The session_ticket must be the ticket of an earlier reply (reply.ticket), or "
                                f"None, but got {ticket!r} (type {type(ticket).__name__}); for example "
                                f"session_ticket=first.ticket.")
    return ticket


# -- the server ----------------------------------------------------------------------
class _EchoProtocol(QuicConnectionProtocol):
    """One QUIC connection at the server: every stream is echoed back, and ends when its client's does."""

    def __init__(self, quic: QuicConnection, *args, server: "QuicServer", **kwargs):
        super().__init__(quic, *args, **kwargs)
        self._connection = quic  # our own name for it: aioquic keeps its copy private
        self._server = server
        self._number = server._next_number()
        self._peer = ""

    def datagram_received(self, data, addr) -> None:
        if not self._peer:
            self._peer = peer_text(addr)
        super().datagram_received(data, addr)

    def quic_event_received(self, event) -> None:
        trace = self._server.trace
        if isinstance(event, HandshakeCompleted):
            how = "0-RTT accepted" if event.early_data_accepted else ("resumed" if event.session_resumed else "")
            trace.record("accept", conn=self._number, peer=self._peer, detail=how)
        elif isinstance(event, StreamDataReceived):
            if event.data:
                trace.record("recv", conn=self._number, peer=self._peer, data=event.data)
            # Echo, and end our half of the stream when the client ended its own.
            self._connection.send_stream_data(event.stream_id, event.data, end_stream=event.end_stream)
            if event.data:
                trace.record("send", conn=self._number, peer=self._peer, data=event.data)
            if event.end_stream:
                trace.record("eof", conn=self._number, peer=self._peer)
            self.transmit()
        elif isinstance(event, ConnectionTerminated):
            trace.record("close", conn=self._number, peer=self._peer, detail=event.reason_phrase)


def serve(*, tls, host: str = "127.0.0.1", port: int = 0, idle_timeout: float = IDLE_TIMEOUT) -> "QuicServer":
    """Start a QUIC echo server on loopback (UDP); return once it listens.

    tls: the CertificateAuthority whose server certificate it presents, or a Certificate.
    idle_timeout: seconds a silent connection is kept (QUIC needs one; None is refused).
    It keeps the session tickets it issues, each good for one 0-RTT resumption:
    a ticket used again gets a full handshake, and its early data is refused.
    """
    certificate = _server_certificate(tls)
    host, port = check_loopback_host(host), check_port(port)
    if idle_timeout is None:
        raise ArgumentError("A QUIC server needs an idle timeout, so that a silent client cannot hold it "
                            "forever; use idle_timeout=2.0.")
    idle_timeout = check_seconds(idle_timeout, "idle_timeout", none_ok=False, example=IDLE_TIMEOUT)
    return QuicServer(certificate, host, port, idle_timeout)._launch()


class QuicServer(Endpoint):
    """A running QUIC echo server: its address, its trace, and stop() (safe twice).

    No public constructor: use `serve()`. For the caller: `address` (with
    `host` and `port`), `trace`, `connections`, `running` and `stop()`.
    """

    what = "QUIC server"
    transport = "quic"

    def __init__(self, certificate: Certificate, host: str, port: int, idle_timeout: float):
        super().__init__("quic-echo")
        self.certificate = certificate
        self.trace = Trace()
        self._host, self._requested_port, self._idle_timeout = host, port, idle_timeout
        self._tickets: dict = {}
        self._count = 0
        self._lock = threading.Lock()
        self._loop: LoopThread | None = None
        self._bound: BoundSocket | None = None
        self._server: _AioquicServer | None = None

    def _next_number(self) -> int:
        with self._lock:
            self._count += 1
            return self._count

    def _start(self) -> None:
        self._bound = open_socket(family_for(self._host), socket.SOCK_DGRAM, host=self._host,
                                  port=self._requested_port, what="QUIC server")
        self._loop = LoopThread("sockcourse-quic-server").start()
        self._server = self._loop.run(self._listen(self._bound.sock), START_TIMEOUT,
                                      what="Starting the QUIC server", hint="the machine may be overloaded, try again")
        self.address = self._bound.address
        self.trace.record("listen", peer=peer_text(self.address))

    async def _listen(self, sock: socket.socket) -> _AioquicServer:
        configuration = QuicConfiguration(is_client=False, alpn_protocols=[ALPN], idle_timeout=self._idle_timeout)
        configuration.load_cert_chain(self.certificate.cert_file, self.certificate.key_file)
        _, protocol = await asyncio.get_running_loop().create_datagram_endpoint(
            lambda: _AioquicServer(
                configuration=configuration,
                create_protocol=lambda *args, **kwargs: _EchoProtocol(*args, server=self, **kwargs),
                # pop: a ticket works once, so a recorded 0-RTT request cannot be replayed with it
                # (RFC 8446, section 8.1); this store is this one server's, which is all it covers.
                session_ticket_fetcher=lambda label: self._tickets.pop(label, None),
                session_ticket_handler=lambda ticket: self._tickets.__setitem__(ticket.ticket, ticket)),
            sock=sock)
        return protocol

    @property
    def connections(self) -> int:
        return self._count

    def _more(self) -> str:
        return f", {self._count} connections"

    def _stop(self, timeout: float) -> None:
        if self._server is not None and self._loop.running:
            # aioquic's own close: every connection, then the socket (our bound one, handed over).
            self._loop.loop.call_soon_threadsafe(self._server.close)
        self._loop.stop(timeout)
        self.trace.record("stop")
        if not self._loop.finished:
            raise CourseBugError(f"The QUIC server's loop was still busy {timeout} s after stop(); "
                                 f"that is a bug in sockcourse.quic: please report it.")

    def _close(self) -> None:
        if self._loop is not None and not self._loop.finished:
            try:
                self._loop.stop(STOP_TIMEOUT)
            except Exception:  # noqa: BLE001 - closing after a failed start or stop: best effort
                pass
        if self._bound is not None:
            self._bound.sock.close()  # after the loop: closing a socket twice is harmless


# -- the client ----------------------------------------------------------------------
@dataclass
class QuicReply:
    """What one QUIC request brought back, and how the connection went."""

    reply: bytes
    seconds: float  # from the client's first datagram to the first byte of the reply
    early_data: bool  # the request went in the first flight (0-RTT), and the server took it
    resumed: bool  # the handshake resumed an earlier session with a ticket
    alpn: str | None
    cipher: str
    ticket: object | None  # a session ticket for the next connection's 0-RTT, if one came
    datagrams_received: int

    @property
    def milliseconds(self) -> float:
        return self.seconds * 1000


class _ClientProtocol(QuicConnectionProtocol):
    """The client's side of one connection: collects one stream's reply and the handshake's facts."""

    def __init__(self, quic: QuicConnection):
        super().__init__(quic)
        self.done = asyncio.get_running_loop().create_future()
        self.reply = bytearray()
        self.first_byte_at: float | None = None
        self.handshake: HandshakeCompleted | None = None
        self.terminated: ConnectionTerminated | None = None
        self.datagrams_received = 0

    def datagram_received(self, data, addr) -> None:
        self.datagrams_received += 1
        super().datagram_received(data, addr)

    def quic_event_received(self, event) -> None:
        if isinstance(event, HandshakeCompleted):
            self.handshake = event
        elif isinstance(event, StreamDataReceived):
            if event.data and self.first_byte_at is None:
                self.first_byte_at = time.perf_counter()
            self.reply += event.data
            if event.end_stream and not self.done.done():
                self.done.set_result(None)
        elif isinstance(event, ConnectionTerminated):
            self.terminated = event
            if not self.done.done():
                self.done.set_result(None)


def request(address, data: bytes = b"ping", *, ca, server_name: str = "localhost", session_ticket=None,
            timeout: float = REQUEST_TIMEOUT, idle_timeout: float = IDLE_TIMEOUT) -> QuicReply:
    """Open a QUIC connection to `address`, send `data` on one stream, and return the echoed reply.

    ca: the CertificateAuthority to trust (or its PEM file); the server's
        certificate must come from it and name `server_name`.
    session_ticket: a ticket from an earlier QuicReply: the handshake resumes
        that session, and `data` goes out in the first flight (0-RTT).
    """
    host, port = check_target(address, "QUIC server")
    if not isinstance(data, (bytes, bytearray)) or not data:
        raise ArgumentTypeError(f"The request must be non-empty bytes, but got {data!r}; for example b'ping'.")
    if not isinstance(server_name, str) or not server_name:
        raise ArgumentTypeError(f"The server_name must be the name the certificate is for, such as 'localhost', "
                                f"but got {server_name!r}.")
    session_ticket = _check_ticket(session_ticket)
    timeout = check_seconds(timeout, "timeout", none_ok=False, example=REQUEST_TIMEOUT)
    idle_timeout = check_seconds(idle_timeout, "idle_timeout", none_ok=False, example=IDLE_TIMEOUT)
    trusted = _trusted_ca(ca)
    configuration = QuicConfiguration(is_client=True, alpn_protocols=[ALPN], idle_timeout=idle_timeout,
                                      server_name=server_name, session_ticket=session_ticket)
    configuration.load_verify_locations(**trusted)
    runner = LoopThread("sockcourse-quic-client").start()
    try:
        return runner.run(_exchange(host, port, bytes(data), configuration, timeout), timeout + TICKET_WAIT + 1.0,
                          what=f"The QUIC request to {peer_text((host, port))}",
                          hint="check the address, and that the server (or the link in front of it) still runs")
    except _NoReply as late:
        raise TimeoutError(str(late)) from None
    finally:
        runner.stop()


async def _exchange(host: str, port: int, data: bytes, configuration: QuicConfiguration,
                    timeout: float) -> QuicReply:
    loop = asyncio.get_running_loop()
    tickets: list = []
    connection = QuicConnection(configuration=configuration, session_ticket_handler=tickets.append)
    family = family_for(host)
    # Bound to loopback, not to every interface as aioquic's own connect() does.
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        sock.bind(("::1" if family == socket.AF_INET6 else "127.0.0.1", 0))
        transport, protocol = await loop.create_datagram_endpoint(lambda: _ClientProtocol(connection), sock=sock)
    except BaseException:
        sock.close()
        raise
    try:
        started = time.perf_counter()
        protocol.connect((host, port), transmit=False)
        # Queued before the first datagram leaves: with a ticket it rides in the
        # first flight as 0-RTT data, without one it waits for the 1-RTT keys.
        stream_id = connection.get_next_available_stream_id()
        connection.send_stream_data(stream_id, data, end_stream=True)
        protocol.transmit()
        try:
            await within(asyncio.shield(protocol.done), timeout)
        except TimeoutError:
            raise _NoReply(f"No QUIC reply from {peer_text((host, port))} within {timeout:g} s; check that a "
                           f"QUIC server (sockcourse.quic.serve) listens there.") from None
        if protocol.terminated is not None and protocol.first_byte_at is None:
            raise _failure(protocol.terminated, host, port)
        deadline = loop.time() + TICKET_WAIT
        while not tickets and protocol.terminated is None and loop.time() < deadline:
            await asyncio.sleep(0.005)
        handshake = protocol.handshake
        suite = connection.tls.key_schedule.cipher_suite.name if connection.tls.key_schedule else ""
        return QuicReply(
            reply=bytes(protocol.reply),
            seconds=protocol.first_byte_at - started,
            early_data=bool(handshake and handshake.early_data_accepted),
            resumed=bool(handshake and handshake.session_resumed),
            alpn=handshake.alpn_protocol if handshake else None,
            cipher=f"TLS_{suite}" if suite else "",
            ticket=tickets[-1] if tickets else None,
            datagrams_received=protocol.datagrams_received,
        )
    finally:
        # close() sends CONNECTION_CLOSE at once. QUIC would then linger for
        # about three probe timeouts in case the peer missed it; a client whose
        # loop ends here has nothing left to say, so it does not wait.
        protocol.close()
        transport.close()


def _failure(event: ConnectionTerminated, host: str, port: int) -> QuicError:
    reason = event.reason_phrase or "no reason given"
    where = peer_text((host, port))
    lowered = reason.lower()
    if "idle timeout" in lowered:
        hint = "nothing answered: check that a QUIC server (sockcourse.quic.serve) listens there"
    elif "issuer" in lowered or "verify" in lowered or "self-signed" in lowered or "self signed" in lowered:
        hint = "the server's certificate was not issued by the CA you trust (ca=)"
    elif "match" in lowered:
        hint = "the certificate is not for that name; pass a server_name it lists, such as 'localhost'"
    elif "valid" in lowered:
        hint = "the certificate is outside its validity dates (expired, or not yet valid)"
    else:
        hint = "the reason above comes from the QUIC stack"
    return QuicError(f"The QUIC connection to {where} failed: {reason} (error code 0x{event.error_code:x}); "
                     f"{hint}.", reason=reason, error_code=event.error_code)
