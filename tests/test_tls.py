"""TLS in the course: the throw-away CA, serve(tls=...), verification failures, mutual TLS, openssl.

Every test runs real TLS handshakes on loopback with OpenSSL through Python's
ssl module (and the openssl program where the test says so).
"""

from __future__ import annotations

import datetime
import os
import selectors
import shutil
import signal
import socket
import ssl
import stat
import subprocess
import sys
import time

import pytest

import sockcourse
from sockcourse import handlers, registry, tls
from sockcourse.core.errors import ArgumentError, ArgumentTypeError
from sockcourse.core.lifecycle import Stoppable
from sockcourse.link import link
from sockcourse.protocols import tls_records

from conftest import wait_for

pytestmark = pytest.mark.timeout(60)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def stranger():
    authority = tls.CertificateAuthority("a stranger's CA")
    try:
        yield authority
    finally:
        authority.close()


def tls_exchange(address, context, data=b"hello", server_hostname="localhost"):
    with socket.create_connection(address, timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname=server_hostname) as client:
            client.sendall(data)
            return client.recv(65536), client.version()


# -- the certificate authority ---------------------------------------------------
def test_authority_keeps_private_files_and_removes_them_on_close(ca):
    assert ca in registry.running(), "an open authority is registered, so stop_all() and re-runs close it"
    assert stat.S_IMODE(os.stat(ca.directory).st_mode) == 0o700
    cert = ca.server_cert
    assert cert is ca.server_cert, "the server certificate is made once"
    assert stat.S_IMODE(os.stat(cert.key_file).st_mode) == 0o600
    with open(ca.ca_file, "rb") as pem:
        assert pem.read() == ca.cert_pem and ca.cert_pem.startswith(b"-----BEGIN CERTIFICATE-----")
    assert cert.names == tls.SERVER_NAMES
    ca.close()
    ca.close()  # safe twice
    assert not os.path.exists(ca.directory)
    assert ca not in registry.running()
    with pytest.raises(tls.CertificateError, match=r"is closed, so it cannot issue a certificate") as caught:
        ca.issue("localhost")
    # In a notebook, a new authority alone would leave the contexts made from the old one behind.
    assert "run again the cell that made it and the cells after it" in str(caught.value)


def test_the_authority_has_the_one_lifecycle_of_everything_that_stops():
    with tls.CertificateAuthority("lifecycle CA") as authority:
        assert isinstance(authority, Stoppable) and authority.running and not authority.closed
        folder = authority.directory
        assert repr(authority) == "<CertificateAuthority 'lifecycle CA', 0 certificates, open>"
    assert authority.closed and authority.stopped and not os.path.exists(folder)
    assert repr(authority) == "<CertificateAuthority 'lifecycle CA', 0 certificates, closed>"
    authority.stop()  # close() and stop() are one and the same, each safe again
    authority.close()
    with pytest.raises(ValueError, match=r"The timeout must be a finite number of seconds, but got nan"):
        tls.CertificateAuthority("another").stop(timeout=float("nan"))
    sockcourse.stop_all()


def test_stop_all_closes_an_authority_left_open():
    authority = tls.CertificateAuthority()
    folder = authority.directory
    assert sockcourse.stop_all() >= 1
    assert authority.closed and not os.path.exists(folder)


def test_good_certificate_passes_and_the_handler_gets_an_ssl_socket(ca):
    seen = {}

    def report(conn):
        seen["type"] = type(conn)
        request = conn.recv(1024)
        conn.sendall(request.upper() + f" over {conn.version()}".encode())

    with sockcourse.serve(report, tls=ca) as server:
        reply, version = tls_exchange(server.address, ca.client_context(), b"secret")
    assert version == "TLSv1.3"
    assert reply == b"SECRET over TLSv1.3"
    assert issubclass(seen["type"], ssl.SSLSocket)
    kinds = [event.kind for event in server.trace]
    assert kinds[:2] == ["listen", "accept"] and "recv" in kinds and kinds[-1] == "stop"
    # The trace holds the plaintext the handler read and wrote, not ciphertext.
    assert server.trace.of_kind("recv")[0].data == b"secret"
    assert server.trace.of_kind("send")[0].data == b"SECRET over TLSv1.3"


def test_the_link_sees_ciphertext_while_the_trace_sees_plaintext(ca):
    secret = b"password=hunter2 " * 5
    with sockcourse.serve(handlers.echo, tls=ca) as server, link(server.address, chunk=256, gap=0) as relay:
        reply, _ = tls_exchange(relay.address, ca.client_context(), secret)
    assert reply == secret
    seen = b"".join(hop.data for hop in relay.record)
    assert b"hunter2" not in seen and b"localhost" in seen  # the server name travels in the clear (SNI)
    to_server = b"".join(hop.data for hop in relay.record if hop.direction == "to_server")
    records = tls.split_records(to_server)
    assert [r.name for r in records[:2]] == ["handshake", "change_cipher_spec"]
    assert all(r.type == 23 for r in records[2:]) and len(records) >= 3
    assert any(event.data == secret for event in server.trace.of_kind("recv"))


def test_sendall_is_one_event_with_the_full_size(ca):
    big = bytes(range(256)) * 400  # 102,400 bytes: several TLS records

    def blast(conn):
        conn.recv(16)
        conn.sendall(big)

    with sockcourse.serve(blast, tls=ca) as server:
        with socket.create_connection(server.address, timeout=5) as raw:
            with ca.client_context().wrap_socket(raw, server_hostname="localhost") as client:
                client.sendall(b"go")
                got = bytearray()
                while len(got) < len(big):
                    got += client.recv(65536)
    assert bytes(got) == big
    sends = server.trace.of_kind("send")
    assert len(sends) == 1 and sends[0].nbytes == len(big)


# -- verification failing for the right reasons -----------------------------------
BAD = {
    "unknown CA": (20, "unable to get local issuer certificate", "TLSV1_ALERT_UNKNOWN_CA"),
    "wrong name": (62, "Hostname mismatch, certificate is not valid for 'localhost'", "SSLV3_ALERT_BAD_CERTIFICATE"),
    "expired": (10, "certificate has expired", "SSLV3_ALERT_CERTIFICATE_EXPIRED"),
}


def bad_certificate(case, ca, stranger):
    if case == "unknown CA":
        return stranger.server_cert
    if case == "wrong name":
        return ca.issue("other.example")
    return ca.issue(*tls.SERVER_NAMES, expired=True)


@pytest.mark.parametrize("case", list(BAD))
def test_bad_certificate_fails_for_the_right_reason(case, ca, stranger):
    code, message, alert = BAD[case]
    with sockcourse.serve(handlers.echo, tls=bad_certificate(case, ca, stranger)) as server:
        with pytest.raises(ssl.SSLCertVerificationError) as caught:
            tls_exchange(server.address, ca.client_context())
    assert caught.value.verify_code == code
    assert message in caught.value.verify_message
    assert caught.value.reason == "CERTIFICATE_VERIFY_FAILED"
    # The server heard the client's alert; it is in the trace, and stop() raised nothing.
    assert [event.detail for event in server.trace.of_kind("handshake")] == [f"TLS handshake failed: {alert}"]


def test_expired_certificate_dates(ca):
    cert = ca.issue("localhost", expired=True)
    assert cert.expired
    now = datetime.datetime.now(datetime.timezone.utc)
    assert cert.not_after < now and cert.not_before < cert.not_after
    assert "(expired)" in repr(cert)
    assert not ca.server_cert.expired


@pytest.mark.parametrize("case, failing", [("good", None), ("unknown CA", tls.CHECKS[0]),
                                           ("wrong name", tls.CHECKS[1]), ("expired", tls.CHECKS[2])])
def test_check_certificate_names_the_broken_rule(case, failing, ca, stranger):
    cert = ca.server_cert if case == "good" else bad_certificate(case, ca, stranger)
    checks = tls.check_certificate(cert, ca, "localhost")
    assert list(checks) == list(tls.CHECKS)
    assert [name for name, ok in checks.items() if not ok] == ([failing] if failing else [])
    assert tls.check_certificate(ca.server_cert, ca, "127.0.0.1")[tls.CHECKS[1]]


# -- mutual TLS ------------------------------------------------------------------------
def common_name(conn):
    subject = dict(pair for part in conn.getpeercert()["subject"] for pair in part)
    conn.sendall(subject["commonName"].encode())


def test_mutual_tls_knows_the_client_and_refuses_one_without_a_certificate(ca):
    with sockcourse.serve(common_name, tls=ca.server_context(require_client_cert=True)) as server:
        with socket.create_connection(server.address, timeout=5) as raw:
            with ca.client_context(ca.client_cert).wrap_socket(raw, server_hostname="localhost") as client:
                assert client.recv(100) == tls.CLIENT_NAME.encode()
        with socket.create_connection(server.address, timeout=5) as raw:
            with ca.client_context().wrap_socket(raw, server_hostname="localhost") as client:
                # TLS 1.3: the client's handshake completes; the refusal comes with the next read.
                with pytest.raises(ssl.SSLError) as caught:
                    client.recv(100)
    assert caught.value.reason == "TLSV13_ALERT_CERTIFICATE_REQUIRED"
    assert [e.detail for e in server.trace.of_kind("handshake")] == [
        "TLS handshake failed: PEER_DID_NOT_RETURN_A_CERTIFICATE"]


def test_mutual_tls_refuses_a_client_certificate_from_another_ca(ca, stranger):
    wrong = ca.client_context()
    wrong.load_cert_chain(stranger.client_cert.cert_file, stranger.client_cert.key_file)
    with sockcourse.serve(common_name, tls=ca.server_context(require_client_cert=True)) as server:
        with socket.create_connection(server.address, timeout=5) as raw:
            with wrong.wrap_socket(raw, server_hostname="localhost") as client:
                with pytest.raises(ssl.SSLError) as caught:
                    client.recv(100)
    assert caught.value.reason == "TLSV1_ALERT_UNKNOWN_CA"
    assert [e.detail for e in server.trace.of_kind("handshake")] == ["TLS handshake failed: CERTIFICATE_VERIFY_FAILED"]


# -- what the server survives ---------------------------------------------------------------
def test_a_plaintext_client_is_recorded_not_raised(ca):
    with sockcourse.serve(handlers.echo, tls=ca) as server:
        with socket.create_connection(server.address, timeout=5) as raw:
            raw.sendall(b"GET / HTTP/1.0\r\n\r\n")
            try:
                assert raw.recv(100) != b"GET"
            except ConnectionResetError:
                pass  # the server closed with our request unread: RST
        wait_for(lambda: server.trace.of_kind("handshake"), what="the failed handshake in the trace")
    assert server.trace.of_kind("handshake")[0].detail == "TLS handshake failed: HTTP_REQUEST"
    assert server.errors == []


@pytest.mark.parametrize("moment", ["during the handshake", "in the handler"])
def test_stop_wakes_a_tls_connection_at_once(moment, ca):
    server = sockcourse.serve(handlers.echo, tls=ca)
    try:
        raw = socket.create_connection(server.address, timeout=5)
        client = None
        if moment == "in the handler":
            client = ca.client_context().wrap_socket(raw, server_hostname="localhost")
            client.sendall(b"x")
            assert client.recv(1) == b"x"
        else:
            wait_for(lambda: server.connections == 1, what="the server to accept")
        started = time.monotonic()
        server.stop()  # must neither hang nor raise HandlerError about late threads
        assert time.monotonic() - started < 2.0
    finally:
        server.stop()
        (client or raw).close()
    assert server.errors == []


# -- bad input ------------------------------------------------------------------------------------
def test_bad_tls_options_are_refused_in_a_sentence(ca, tmp_path):
    with pytest.raises(TypeError, match=r"tls= expects an ssl.SSLContext .* but got 42 \(type int\)"):
        sockcourse.serve(handlers.echo, tls=42)
    with pytest.raises(TypeError, match=r"tls=True does not say which certificate"):
        sockcourse.serve(handlers.echo, tls=True)
    missing = str(tmp_path / "missing.pem")
    with pytest.raises(FileNotFoundError, match=r"The certificate file '.*missing.pem' does not exist"):
        sockcourse.serve(handlers.echo, tls=missing)
    with pytest.raises(ValueError, match=r"got a client context .* pass a server context"):
        sockcourse.serve(handlers.echo, tls=ca.client_context())
    with pytest.raises(ValueError, match=r"TLS runs over a stream, but transport='udp'"):
        sockcourse.serve(handlers.echo, transport="udp", tls=ca)
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    with pytest.raises(tls.CertificateError, match=r"OpenSSL could not load a certificate"):
        sockcourse.serve(handlers.echo, tls=str(garbage))
    assert registry.running() == [ca], "a refused option must not leave a server behind"


def test_a_pem_path_works_as_tls_option(ca, tmp_path):
    combined = tmp_path / "server.pem"
    cert = ca.server_cert
    combined.write_bytes(open(cert.key_file, "rb").read() + open(cert.cert_file, "rb").read())
    with sockcourse.serve(handlers.echo, tls=combined) as server:
        assert tls_exchange(server.address, ca.client_context())[0] == b"hello"


def test_bad_certificate_requests_are_refused_in_a_sentence(ca, tmp_path):
    with pytest.raises(ValueError, match="must name someone"):
        ca.issue()
    with pytest.raises(TypeError, match="Each name must be a non-empty string"):
        ca.issue(42)
    with pytest.raises(ValueError, match="expired=True sets the expiry date itself"):
        ca.issue("localhost", expired=True, not_after=datetime.datetime(2001, 1, 1))
    with pytest.raises(ValueError, match="would expire"):
        ca.issue("localhost", not_before=datetime.datetime(2020, 1, 1), not_after=datetime.datetime(2019, 1, 1))
    with pytest.raises(TypeError, match="must be a datetime.datetime"):
        ca.issue("localhost", not_after="tomorrow")
    ca.issue("localhost", label="twice")
    with pytest.raises(ValueError, match="already has a certificate labelled 'twice'"):
        ca.issue("localhost", label="twice")
    with pytest.raises(TypeError, match="The authority's name must be a non-empty string"):
        tls.CertificateAuthority("")
    with pytest.raises(FileNotFoundError, match="The CA file '.*nope.pem' does not exist"):
        tls.client_context(str(tmp_path / "nope.pem"))
    with pytest.raises(ValueError, match="needs the CA that issued the clients' certificates"):
        tls.server_context(ca.server_cert.cert_file, ca.server_cert.key_file, require_client_cert=True)
    with pytest.raises(ValueError, match="do not start a TLS record"):
        tls.split_records(b"hello, plaintext")


@pytest.mark.parametrize("label", ["../x/stolen", "a/b", "a b", "a" * 300, 5, "", ".hidden", "dir/../../x"])
def test_a_label_that_is_not_a_plain_name_is_refused_before_any_file_is_written(ca, label, tmp_path):
    ca.server_cert  # noqa: B018 - some files in the folder already
    before = sorted(os.listdir(ca.directory))
    outside = sorted(os.listdir(os.path.dirname(ca.directory)))
    error = ArgumentTypeError if not isinstance(label, str) else ArgumentError
    with pytest.raises(error) as caught:
        ca.issue("localhost", label=label)
    message = str(caught.value)
    assert repr(label) in message and ("plain name" in message or "short name" in message), message
    assert message.endswith(".") and "for example label='alice'" in message
    assert caught.value.__cause__ is None and caught.value.__context__ is None, "raised shallow, not from inside"
    assert sorted(os.listdir(ca.directory)) == before, "no file written in the CA's folder"
    assert sorted(os.listdir(os.path.dirname(ca.directory))) == outside, "nor beside it"


def test_a_plain_label_names_the_files(ca):
    cert = ca.issue("localhost", label="alice_2-b")
    assert os.path.basename(cert.key_file) == "alice_2-b.key"
    assert os.path.dirname(cert.key_file) == ca.directory


@pytest.mark.parametrize("name", ["a b", "a" * 300, "exa_mple.com"])
def test_a_name_a_certificate_cannot_hold_is_refused_in_a_sentence(ca, name):
    with pytest.raises(ArgumentError) as caught:
        ca.issue(name)
    message = str(caught.value)
    assert message.startswith(f"The name {name!r} cannot go into a certificate (") and "'localhost'" in message
    assert ca.certificates == []


def test_check_certificate_refuses_what_it_cannot_check_in_a_sentence(ca):
    with pytest.raises(TypeError, match=r"The hostname must be the name the client asked for, .* got 5 \(type int\)"):
        tls.check_certificate(ca.server_cert, ca, 5)
    with pytest.raises(TypeError, match=r"trusted must be the CertificateAuthority .* got 'ca.pem'"):
        tls.check_certificate(ca.server_cert, "ca.pem", "localhost")
    with pytest.raises(tls.CertificateError, match=r"are not a PEM certificate"):
        tls.check_certificate(b"-----BEGIN CERTIFICATE-----\nnonsense\n", ca, "localhost")
    # An IPv6 address is compared as an address, whatever its spelling.
    assert tls.check_certificate(ca.server_cert, ca, "0:0:0:0:0:0:0:1")[tls.CHECKS[1]]
    assert not tls.check_certificate(ca.server_cert, ca, "::2")[tls.CHECKS[1]]


# -- TLS records: protocol data, no socket ---------------------------------------------------
def test_records_are_cut_from_bytes_alone():
    stream = bytes([22, 3, 1, 0, 2]) + b"hi" + bytes([23, 3, 3, 0, 3]) + b"abc" + bytes([23, 3, 3, 0, 9]) + b"cut"
    records = tls_records.split_records(stream)
    assert records == [tls_records.Record(22, 0x0301, b"hi"), tls_records.Record(23, 0x0303, b"abc")]
    assert [r.name for r in records] == ["handshake", "application_data"]
    assert tls_records.split_records(bytearray(stream[:4])) == []  # not even one header yet
    assert tls.split_records is tls_records.split_records and tls.Record is tls_records.Record
    with pytest.raises(ValueError, match=r"at offset 7 do not start a TLS record \(type 99\)"):
        tls_records.split_records(stream[:7] + bytes([99, 3, 3, 0, 0]))
    with pytest.raises(TypeError, match=r"Expected the bytes of one direction of a TLS connection, but got 'text'"):
        tls_records.split_records("text")


# -- an outside client: openssl s_client ---------------------------------------------------
needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="the openssl program is not installed")


def _first_line(proc, timeout: float) -> str:
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        if not selector.select(timeout):
            pytest.fail(f"The server printed nothing within {timeout} s.", pytrace=False)
    return proc.stdout.readline()


@needs_openssl
def test_cli_tls_server_talks_to_openssl_s_client(tmp_path):
    ca_file = tmp_path / "ca.pem"
    command = [sys.executable, "-m", "sockcourse", "serve", "echo", "--tls", "--ca-out", str(ca_file)]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO) as server:
        try:
            line = _first_line(server, 20)
            # The CA file is written before the first line is printed.
            assert ca_file.read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")
            assert line.startswith("listening on 127.0.0.1:"), line
            where = line.split()[-1]
            client = subprocess.Popen(
                ["openssl", "s_client", "-connect", where, "-servername", "localhost", "-verify_hostname", "localhost",
                 "-CAfile", str(ca_file), "-verify_return_error"],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            with client:
                # Keep stdin open until the echo is back: at end of input s_client hangs up at once.
                client.stdin.write(b"hello from openssl\n")
                client.stdin.flush()
                out = bytearray()
                deadline = time.monotonic() + 10
                with selectors.DefaultSelector() as selector:
                    selector.register(client.stdout, selectors.EVENT_READ)
                    while b"\nhello from openssl\n" not in out and time.monotonic() < deadline:
                        if selector.select(0.5):
                            chunk = os.read(client.stdout.fileno(), 65536)
                            if not chunk:
                                break
                            out += chunk
                rest, _ = client.communicate(timeout=10)  # closes stdin: s_client ends the session
                out += rest
            text = out.decode(errors="replace")
            assert "Verify return code: 0 (ok)" in text, text
            assert "\nhello from openssl\n" in text, text
            assert client.returncode == 0
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(timeout=5)
    assert server.returncode == 0, server.stderr.read()


@pytest.fixture
def fake_openssl(tmp_path, monkeypatch):
    """An `openssl` first on PATH that only notes that it ran: whether s_client was started at all shows."""
    folder = tmp_path / "bin"
    folder.mkdir()
    marker = tmp_path / "openssl-ran"
    program = folder / "openssl"
    program.write_text(f"#!/bin/sh\necho \"$@\" > {marker}\nexit 1\n")
    program.chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ.get('PATH', '')}")
    return marker


@pytest.mark.parametrize("address", [("10.0.0.1", 443), ("8.8.8.8", 853), ("0.0.0.0", 443), ("example.com", 443)])
def test_openssl_s_client_refuses_other_hosts_before_anything_runs(ca, fake_openssl, address):
    with pytest.raises(ValueError, match=r"The host .* loopback"):
        tls.openssl_s_client(address, ca.ca_file)
    assert not fake_openssl.exists(), "openssl must not have been started"


def test_openssl_s_client_does_run_for_a_loopback_address(ca, fake_openssl):
    # The same call on loopback does start the program: the refusal above is the check's doing.
    with sockcourse.serve(handlers.echo, tls=ca) as server:
        result = tls.openssl_s_client(server.address, ca.ca_file, timeout=5)
    assert fake_openssl.read_text().startswith(f"s_client -connect 127.0.0.1:{server.port} ")
    assert result.returncode == 1 and not result.got_reply


@pytest.mark.parametrize("servername, verify_name, options", [
    ("localhost", True, "-servername localhost -verify_hostname localhost -CAfile"),
    ("localhost", False, "-servername localhost -CAfile"),
    ("127.0.0.1", True, "-noservername -verify_ip 127.0.0.1 -CAfile"),
    ("::1", False, "-noservername -CAfile"),
])
def test_openssl_s_client_checks_the_name_unless_told_not_to(ca, fake_openssl, servername, verify_name, options):
    # -servername only fills in SNI; the name is checked because -verify_hostname (-verify_ip) says so.
    with sockcourse.serve(handlers.echo, tls=ca) as server:
        tls.openssl_s_client(server.address, ca.ca_file, servername=servername, verify_name=verify_name, timeout=5)
    assert f" {options} " in fake_openssl.read_text()


def test_the_command_is_shown_as_typed_with_files_by_name_and_no_line_too_long():
    result = tls.SClientResult(["openssl", "s_client", "-connect", "127.0.0.1:43445", "-servername", "localhost",
                                "-verify_hostname", "localhost", "-CAfile", "/tmp/sockcourse-x1y2z3w4/ca.crt",
                                "-verify_return_error"], 0, "", "", True)
    shown = result.shown(width=80)
    assert shown.replace(" \\\n    ", " ") == ("openssl s_client -connect 127.0.0.1:43445 -servername localhost "
                                             "-verify_hostname localhost -CAfile ca.crt -verify_return_error")
    assert all(len(line) <= 80 for line in shown.splitlines()) and len(shown.splitlines()) > 1
    # An option and its value stay together on one line.
    assert any("-CAfile ca.crt" in line for line in shown.splitlines())
    assert all(not line.rstrip(" \\").endswith(("-CAfile", "-servername")) for line in shown.splitlines())


def test_openssl_s_client_refuses_bad_arguments_in_a_sentence(ca, tmp_path):
    with pytest.raises(ValueError, match=r"Port 0 is not an address to connect to"):
        tls.openssl_s_client(("127.0.0.1", 0), ca.ca_file)
    with pytest.raises(FileNotFoundError, match=r"The CA file '.*nope.pem' does not exist"):
        tls.openssl_s_client(("127.0.0.1", 4433), str(tmp_path / "nope.pem"))
    with pytest.raises(TypeError, match=r"The line to send must be the bytes of one line, but got 'hi'"):
        tls.openssl_s_client(("127.0.0.1", 4433), ca.ca_file, send="hi")
    with pytest.raises(ValueError, match=r"The timeout must be a finite number of seconds, but got inf"):
        tls.openssl_s_client(("127.0.0.1", 4433), ca.ca_file, timeout=float("inf"))
    with pytest.raises(TypeError, match=r"The verify_name must be True or False, but got 'yes'"):
        tls.openssl_s_client(("127.0.0.1", 4433), ca.ca_file, verify_name="yes")


@needs_openssl
def test_openssl_helper_verifies_and_reports_a_wrong_ca(ca, stranger):
    with sockcourse.serve(handlers.echo, tls=ca) as server:
        good = tls.openssl_s_client(server.address, ca.ca_file, send=b"ping\n")
        bad = tls.openssl_s_client(server.address, stranger.ca_file, send=b"ping\n")
    assert good.got_reply and good.returncode == 0 and good.verify_line == "Verify return code: 0 (ok)"
    assert "ping" in good.lines("ping")
    assert not bad.got_reply and bad.returncode != 0
    assert bad.verify_line == "Verify return code: 20 (unable to get local issuer certificate)"


@needs_openssl
def test_openssl_refuses_a_certificate_for_another_name_only_when_asked_to_check_it(ca):
    # The trap of many tutorials: -servername alone checks the chain, not the name.
    other = ca.issue("other.example", label="other-name")
    with sockcourse.serve(handlers.echo, tls=other) as server:
        careless = tls.openssl_s_client(server.address, ca.ca_file, send=b"ping\n", verify_name=False)
        careful = tls.openssl_s_client(server.address, ca.ca_file, send=b"ping\n")
        by_address = tls.openssl_s_client(server.address, ca.ca_file, send=b"ping\n", servername="127.0.0.1")
    assert careless.got_reply and careless.returncode == 0 and careless.verify_line == "Verify return code: 0 (ok)"
    assert not careful.got_reply and careful.returncode == 1
    assert careful.verify_line == "Verify return code: 62 (hostname mismatch)"
    assert not by_address.got_reply and by_address.verify_line == "Verify return code: 64 (IP address mismatch)"
    # And the course's certificate, which lists 127.0.0.1, passes the address check.
    with sockcourse.serve(handlers.echo, tls=ca) as server:
        good = tls.openssl_s_client(server.address, ca.ca_file, send=b"ping\n", servername="127.0.0.1")
    assert good.got_reply and good.verify_line == "Verify return code: 0 (ok)"


# -- the host-name rules: subjectAltName first, and Python's fallback to the subject's CN -------------
def test_the_subject_alt_name_decides_and_the_common_name_is_only_a_fallback_python_can_switch_off(ca):
    both = ca.issue("other.example", common_name="localhost", label="san-and-cn")
    cn_only = ca.issue(common_name="localhost", label="cn-only")
    # trustme writes an empty subjectAltName into cn_only: it lists no DNS name, which is what counts.
    with sockcourse.serve(handlers.echo, tls=both) as server:
        with pytest.raises(ssl.SSLCertVerificationError, match="Hostname mismatch"):
            tls_exchange(server.address, ca.client_context())
    with sockcourse.serve(handlers.echo, tls=cn_only) as server:
        default = ca.client_context()
        assert default.hostname_checks_common_name is True
        assert tls_exchange(server.address, default)[0] == b"hello"
        strict = ca.client_context()
        strict.hostname_checks_common_name = False
        with pytest.raises(ssl.SSLCertVerificationError, match="Hostname mismatch"):
            tls_exchange(server.address, strict)


# -- what a relay reads: the hello's versions, and the records in order -----------------------------
def relayed_conversation(ca, context, server_context=None, letter=b"x" * 88):
    with sockcourse.serve(handlers.echo, tls=server_context or ca.server_context()) as server, \
            link(server.address, chunk=256, gap=0) as relay:
        with socket.create_connection(relay.address, timeout=5) as raw:
            with context.wrap_socket(raw, server_hostname="localhost") as client:
                client.sendall(letter)
                assert client.recv(1024) == letter
    return relay.record


def test_a_tls13_client_hello_names_three_versions(ca):
    hops = relayed_conversation(ca, ca.client_context())
    sent = b"".join(hop.data for hop in hops if hop.direction == "to_server")
    versions = tls.client_hello_versions(sent)
    assert (versions.record_version, versions.legacy_version) == (0x0301, 0x0303)
    assert versions.supported_versions == (0x0304, 0x0303)  # TLS 1.3, and 1.2: the context's minimum
    assert [row[2] for row in versions.rows()] == ["TLS 1.0", "TLS 1.2", "TLS 1.3, TLS 1.2"]
    only13 = ca.client_context()
    only13.minimum_version = ssl.TLSVersion.TLSv1_3
    sent = b"".join(hop.data for hop in relayed_conversation(ca, only13) if hop.direction == "to_server")
    assert tls.client_hello_versions(sent).supported_versions == (0x0304,)


def test_hello_versions_refuse_what_is_not_a_client_hello_in_a_sentence(ca):
    with pytest.raises(TypeError, match="Expected the bytes the client sent"):
        tls.client_hello_versions("hello")
    with pytest.raises(ValueError, match="do not start with a ClientHello"):
        tls.client_hello_versions(b"GET / HTTP/1.1\r\n\r\n")
    hops = relayed_conversation(ca, ca.client_context())
    first = b"".join(hop.data for hop in hops if hop.direction == "to_server")
    with pytest.raises(ValueError, match="The ClientHello ends inside its"):
        tls.client_hello_versions(first[:60])


def test_the_records_are_named_by_the_order_of_the_tls13_handshake(ca):
    messages = tls.tls13_messages(tls.records_in_order(relayed_conversation(ca, ca.client_context())))
    named = [(m.direction, m.holds, m.outer) for m in messages if m.holds is not None]
    assert named == [
        ("to_server", "ClientHello", "handshake"), ("to_client", "ServerHello", "handshake"),
        ("to_client", "change_cipher_spec", "change_cipher_spec"),
        ("to_client", "EncryptedExtensions", "application_data"), ("to_client", "Certificate", "application_data"),
        ("to_client", "CertificateVerify", "application_data"), ("to_client", "Finished", "application_data"),
        ("to_server", "change_cipher_spec", "change_cipher_spec"), ("to_server", "Finished", "application_data"),
    ]
    after = [m for m in messages if m.holds is None]
    assert after and all(m.keys == "application" and m.outer == "application_data" for m in after)
    # The letter and its echo are among them: 88 bytes, 1 byte of inner type, a 16-byte tag, the header.
    assert {("to_server", 110), ("to_client", 110)} <= {(m.direction, m.size) for m in after}


def test_mutual_tls_adds_the_three_messages_of_client_authentication(ca):
    context = ca.client_context(ca.client_cert)
    hops = relayed_conversation(ca, context, ca.server_context(require_client_cert=True))
    names = [m.holds for m in tls.tls13_messages(tls.records_in_order(hops), mutual=True) if m.holds]
    assert names == ["ClientHello", "ServerHello", "change_cipher_spec", "EncryptedExtensions", "CertificateRequest",
                     "Certificate", "CertificateVerify", "Finished", "change_cipher_spec", "Certificate",
                     "CertificateVerify", "Finished"]


def test_records_of_tls12_or_cut_short_by_the_link_are_refused_in_a_sentence(ca):
    old = ca.client_context()
    old.maximum_version = ssl.TLSVersion.TLSv1_2
    with pytest.raises(ValueError, match="does not look like a TLS 1.3 handshake"):
        tls.tls13_messages(tls.records_in_order(relayed_conversation(ca, old)))
    with sockcourse.serve(handlers.echo, tls=ca) as server, link(server.address, chunk=4096, gap=0) as relay:
        with socket.create_connection(relay.address, timeout=5) as raw:
            with ca.client_context().wrap_socket(raw, server_hostname="localhost") as client:
                client.sendall(b"x")
                client.recv(10)
    with pytest.raises(ValueError, match=r"kept only 256 of the \d+ bytes of a piece.*chunk=256"):
        tls.records_in_order(relay.record)
    with pytest.raises(TypeError, match="Expected the link's record"):
        tls.records_in_order([b"bytes"])
    with pytest.raises(TypeError, match="Expected the records of a TLS conversation"):
        tls.tls13_messages([])


def _serve_cli(*args):
    return subprocess.run([sys.executable, "-m", "sockcourse", "serve", *args], capture_output=True, text=True,
                          timeout=30, cwd=REPO, stdin=subprocess.DEVNULL)


def test_cli_refuses_tls_options_that_cannot_work(tmp_path):
    result = _serve_cli("echo", "--ca-out", str(tmp_path / "ca.pem"))
    assert result.returncode == 2 and "but --tls is missing; add --tls." in result.stderr
    result = _serve_cli("echo", "--tls", "--udp")
    assert result.returncode == 2 and "TLS runs over a stream" in result.stderr
    missing = tmp_path / "no-such-folder" / "ca.pem"
    result = _serve_cli("echo", "--tls", "--ca-out", str(missing))
    assert result.returncode == 2 and f"Could not write the CA certificate to {str(missing)!r}" in result.stderr
    assert "Traceback" not in result.stderr
