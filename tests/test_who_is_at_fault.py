"""Who is at fault, decided by the server and written into the trace as data.

A peer that misbehaves (half a length prefix, half a TLS ClientHello, then a
reset; a long silence) is recorded as the peer's doing and never raised at
stop(). The handler's own mistakes, including a timeout or a reset from a
socket the handler opened itself, are the handler's and are raised at stop().
Each case runs on real sockets; each event is checked by its fields, not by
its wording.
"""

from __future__ import annotations

import socket
import struct
import threading
import time

import pytest

from sockcourse import HandlerError, handlers, serve
from sockcourse.core.errors import Fault
from conftest import wait_for

pytestmark = pytest.mark.timeout(60)


def events(server, kind):
    return [e for e in server.trace.events if e.kind == kind]


def reset_after_sending(address, data: bytes) -> None:
    """A rude client: it sends `data` and then aborts with RST (SO_LINGER 0)."""
    client = socket.create_connection(address, timeout=5)
    client.sendall(data)
    client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    client.close()


@pytest.mark.parametrize("sent", [b"", b"\x00", b"\x00\x00\x01", struct.pack("!I", 10) + b"abc"])
@pytest.mark.parametrize("ending", ["close", "reset"])
def test_a_peer_that_stops_mid_frame_is_the_peers_fault(sent, ending):
    with serve(handlers.length_prefixed_echo) as server:
        if ending == "reset":
            reset_after_sending(server.address, sent)
        else:
            with socket.create_connection(server.address, timeout=5) as client:
                client.sendall(sent)
        wait_for(lambda: server.trace.of_kind("close"), 3.0, "the server to close the connection")
    # stop() raised nothing: the handler did no wrong.
    assert not events(server, "error")
    if sent:
        blamed = [e for e in server.trace.events if e.fault == Fault.PEER.value]
        assert blamed, server.trace.to_text()
        assert all(e.kind in ("eof", "reset") for e in blamed)
    if ending == "close" and sent:
        (short,) = events(server, "eof")[-1:]
        assert short.error_type == "IncompleteMessage" and f"after {len(sent) if len(sent) < 4 else len(sent) - 4}" \
            in short.detail


def test_a_whole_message_still_echoes_after_the_fix():
    with serve(handlers.length_prefixed_echo) as server:
        with socket.create_connection(server.address, timeout=5) as client:
            for body in (b"", b"a", b"hello" * 1000):
                client.sendall(struct.pack("!I", len(body)) + body)
                got = b""
                while len(got) < 4 + len(body):
                    got += client.recv(65536)
                assert got == struct.pack("!I", len(body)) + body


def test_half_a_tls_client_hello_and_a_reset_is_the_peers_fault(tmp_path):
    tls = pytest.importorskip("sockcourse.tls")
    with tls.CertificateAuthority() as ca:
        with serve(handlers.echo, tls=ca) as server:
            # A ClientHello record header (type 22, TLS 1.0 record version) and a few bytes of it.
            reset_after_sending(server.address, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
            wait_for(lambda: events(server, "handshake"), 3.0, "the failed handshake in the trace")
    (failed,) = events(server, "handshake")
    assert failed.fault == Fault.PEER.value and failed.error_type
    assert not events(server, "error")


def test_a_silent_peer_past_the_idle_timeout_is_the_peers_fault():
    with serve(handlers.echo, idle_timeout=0.2) as server:
        with socket.create_connection(server.address, timeout=5) as client:
            wait_for(lambda: events(server, "timeout"), 3.0, "the idle timeout")
            assert client.recv(10) == b""  # the server closed: FIN
    (timeout,) = events(server, "timeout")
    assert timeout.fault == Fault.PEER.value and timeout.error_type in ("TimeoutError", "timeout")


def silent_upstream(listener) -> None:
    conn, _ = listener.accept()
    conn.recv(100)  # and never answers
    time.sleep(1)
    conn.close()


def resetting_upstream(listener) -> None:
    conn, _ = listener.accept()
    conn.recv(100)
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


@pytest.mark.parametrize("upstream, error", [(silent_upstream, "TimeoutError"),
                                             (resetting_upstream, "ConnectionResetError")])
def test_a_handlers_own_upstream_failing_is_the_handlers_fault(upstream, error):
    # A proxy whose upstream never answers, or resets: the error comes from a
    # socket the handler opened itself, so it is the handler's to answer for,
    # not an idle or rude client's.
    listener = socket.create_server(("127.0.0.1", 0))
    helper = threading.Thread(target=upstream, args=(listener,), daemon=True)
    helper.start()

    def proxy(conn):
        request = conn.recv(100)
        with socket.create_connection(listener.getsockname(), timeout=0.2) as far:
            far.sendall(request)
            conn.sendall(far.recv(100))

    try:
        server = serve(proxy)
        with socket.create_connection(server.address, timeout=5) as client:
            client.sendall(b"hello")
            wait_for(lambda: server.errors, 3.0, "the handler's error")
        with pytest.raises(HandlerError, match=error):
            server.stop()
    finally:
        helper.join(5)
        listener.close()
    (kept,) = events(server, "error")
    assert kept.fault == Fault.HANDLER.value and kept.error_type == error
    assert not events(server, "timeout") and not events(server, "reset"), "the client did nothing wrong"


def test_an_exception_whose_message_cannot_be_shown_is_still_kept():
    class Unprintable(Exception):
        def __str__(self):
            raise RuntimeError("no text for you")

    def broken(conn):
        conn.recv(10)
        raise Unprintable()

    server = serve(broken)
    with socket.create_connection(server.address, timeout=5) as client:
        client.sendall(b"x")
        wait_for(lambda: server.errors, 3.0, "the handler's error")
    with pytest.raises(HandlerError, match="Unprintable") as info:
        server.stop()
    assert isinstance(info.value.__cause__, Unprintable)


def test_a_close_with_rst_is_marked_as_an_abort_in_the_trace():
    with serve(handlers.reset) as server:
        with socket.create_connection(server.address, timeout=5) as client:
            with pytest.raises(ConnectionResetError):
                client.recv(10)
    (close,) = events(server, "close")
    assert close.abort is True
    with serve(handlers.hangup) as server:
        with socket.create_connection(server.address, timeout=5) as client:
            assert client.recv(10) == b""
    (close,) = events(server, "close")
    assert close.abort is False
