"""The TLS handshake by message name (sockcourse.tls.messages) and the chain of trust (sockcourse.tls.chain).

Every test runs real TLS handshakes on loopback through Python's ssl module
and OpenSSL, or reads real certificates made by trustme; nothing is canned.
"""

from __future__ import annotations

import socket
import ssl

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

import sockcourse
from sockcourse import handlers, tls
from sockcourse.core.errors import ArgumentError, ArgumentTypeError, CertificateError, UsageError
from sockcourse.link import link
from sockcourse.tls.chain import certificate_facts, chain_facts
from sockcourse.tls.messages import HookUnavailable, hook_missing, record_handshake

pytestmark = pytest.mark.timeout(60)


def names(messages, sender=None):
    return [m.name for m in messages if not m.after_handshake and (sender is None or m.sender == sender)]


# -- TLS 1.3 -----------------------------------------------------------------------------------
def test_a_tls13_handshake_is_recorded_message_by_message_in_the_order_of_rfc_8446(ca):
    messages = record_handshake(ca)
    first = messages[0]
    assert (first.sender, first.name, first.encrypted, first.outer) == ("client", "ClientHello", False, "handshake")
    # RFC 8446, section 2, Figure 1, without what only mutual TLS sends, plus the compatibility records.
    assert names(messages, "server") == ["ServerHello", "change_cipher_spec", "EncryptedExtensions", "Certificate",
                                         "CertificateVerify", "Finished"]
    assert names(messages, "client") == ["ClientHello", "change_cipher_spec", "Finished"]
    finished = [(index, m.sender) for index, m in enumerate(messages) if m.name == "Finished"]
    assert [sender for _, sender in finished] == ["server", "client"], "the server's Finished comes first"
    hello = next(index for index, m in enumerate(messages) if m.name == "ServerHello")
    for m in messages[hello + 1:]:
        if m.name == "change_cipher_spec":
            assert (m.encrypted, m.outer, m.record_size) == (False, "change_cipher_spec", 6)
        else:
            assert m.encrypted and m.outer == "application_data", m
    assert not messages[hello].encrypted and messages[hello].outer == "handshake"


def test_after_the_handshake_come_the_data_and_the_servers_session_tickets(ca):
    messages = record_handshake(ca, request=b"ping")
    after = [m for m in messages if m.after_handshake]
    assert [m.name for m in after if m.sender == "server" and m.name == "NewSessionTicket"] == ["NewSessionTicket"] * 2
    assert all(m.encrypted and m.kind == "handshake" and m.outer == "application_data"
               for m in after if m.name == "NewSessionTicket")
    data = [(m.sender, m.kind) for m in after if m.name == "application data"]
    assert data == [("client", "application_data"), ("server", "application_data")]
    # The handshake comes first, then what follows it: the flag never goes back.
    flags = [m.after_handshake for m in messages]
    assert flags == sorted(flags) and not flags[0]
    # "ping" in a TLS 1.3 record: 5 bytes of header, 4 of data, 1 of inner type, a 16-byte tag (AES-GCM).
    assert {m.record_size for m in after if m.name == "application data"} == {5 + 4 + 1 + 16}


def test_the_certificate_record_holds_the_servers_certificate(ca):
    messages = record_handshake(ca)
    der = x509.load_pem_x509_certificate(ca.server_cert.pem).public_bytes(Encoding.DER)
    certificate = next(m for m in messages if m.name == "Certificate")
    assert certificate.sender == "server" and certificate.record_size > len(der)


def test_the_names_agree_with_what_the_relay_guessed_from_the_order(ca):
    # The relay names records by the order of RFC 8446 (tls.tls13_messages); the client's library knows.
    with sockcourse.serve(handlers.echo, tls=ca.server_context()) as server, \
            link(server.address, chunk=256, gap=0) as relay:
        with socket.create_connection(relay.address, timeout=5) as raw:
            with ca.client_context().wrap_socket(raw, server_hostname="localhost") as client:
                client.sendall(b"hello")
                assert client.recv(100) == b"hello"
    guessed = [(m.direction, m.holds, m.outer) for m in tls.tls13_messages(tls.records_in_order(relay.record))
               if m.holds]
    seen = [(m.direction, m.name, m.outer) for m in record_handshake(ca) if not m.after_handshake]
    assert guessed == seen


def test_recording_leaves_nothing_running(ca):
    before = len(sockcourse.running())
    record_handshake(ca)
    assert len(sockcourse.running()) == before


# -- TLS 1.2: a different record, also right --------------------------------------------------------
def test_a_tls12_handshake_sends_the_certificate_in_the_clear_and_encrypts_from_change_cipher_spec(ca):
    messages = record_handshake(ca, version=ssl.TLSVersion.TLSv1_2)
    # RFC 5246, section 7.3, Figure 1, with an (EC)DHE key exchange and RFC 5077's ticket.
    assert names(messages) == ["ClientHello", "ServerHello", "Certificate", "ServerKeyExchange", "ServerHelloDone",
                               "ClientKeyExchange", "change_cipher_spec", "Finished", "NewSessionTicket",
                               "change_cipher_spec", "Finished"]
    certificate = next(m for m in messages if m.name == "Certificate")
    assert not certificate.encrypted and certificate.outer == "handshake"
    for m in messages:
        if m.name == "Finished":
            # Encrypted under the keys change_cipher_spec switched to, in a record labelled handshake.
            assert m.encrypted and m.outer == "handshake"
        elif not m.after_handshake:
            assert not m.encrypted, m
    after = [m for m in messages if m.after_handshake]
    assert [m.name for m in after] == ["application data", "application data"]
    assert all(m.encrypted and m.outer == "application_data" for m in after)


# -- refusals in a sentence ---------------------------------------------------------------------------
def test_bad_arguments_are_refused_in_a_sentence(ca):
    with pytest.raises(ArgumentTypeError, match="Expected the course's CertificateAuthority"):
        record_handshake("ca.crt")
    with pytest.raises(ArgumentError, match=r"must be ssl.TLSVersion.TLSv1_3 or ssl.TLSVersion.TLSv1_2, but got"):
        record_handshake(ca, version=ssl.TLSVersion.TLSv1_1)
    with pytest.raises(ArgumentError, match="The request must be 1 to 1024 bytes"):
        record_handshake(ca, request=b"")
    with tls.CertificateAuthority("closed soon") as closed:
        pass
    with pytest.raises(CertificateError, match="is closed"):
        record_handshake(closed)


def test_a_python_without_the_private_hook_is_told_so_in_a_sentence():
    assert hook_missing() is None and hook_missing(ssl.SSLContext) is None

    class ContextWithoutTheHook:  # what an ssl module without _msg_callback offers
        pass

    why = hook_missing(ContextWithoutTheHook)
    assert why.startswith("This Python's ") and "has no _msg_callback" in why and why.endswith(".")
    assert issubclass(HookUnavailable, UsageError)


# -- the chain of trust ---------------------------------------------------------------------------------
@pytest.fixture
def four(ca):
    with tls.CertificateAuthority("a stranger's CA") as stranger:
        yield {"good": ca.server_cert, "stranger": stranger.server_cert, "other name": ca.issue("other.example"),
               "expired": ca.issue(*tls.SERVER_NAMES, expired=True)}


def test_each_chain_breaks_where_its_certificate_breaks_a_rule(ca, four):
    chains = {case: chain_facts(cert, ca, "localhost", case=case) for case, cert in four.items()}
    good = chains["good"]
    assert (good.issuer_found, good.signed, good.matched, good.in_dates) == (True, True, "DNS localhost", True)
    assert good.leaf.issuer == good.anchor.subject == "O=sockcourse, OU=sockcourse course CA"
    assert good.leaf.names == ("DNS localhost", "IP 127.0.0.1", "IP ::1")
    assert (good.anchor.self_signed, good.anchor.is_ca, good.leaf.self_signed, good.leaf.is_ca) == (True, True, False,
                                                                                                 False)
    stranger = chains["stranger"]
    assert not stranger.issuer_found and not stranger.signed and stranger.leaf.issuer.endswith("OU=a stranger's CA")
    assert chains["other name"].matched is None and chains["other name"].leaf.names == ("DNS other.example",)
    assert not chains["expired"].in_dates and chains["expired"].matched == "DNS localhost"
    for case, cert in four.items():
        answers = list(tls.check_certificate(cert, ca, "localhost").values())
        chain = chains[case]
        assert answers == [chain.signed, chain.matched is not None, chain.in_dates], case


def test_addresses_match_as_addresses_and_the_ca_reads_as_self_signed(ca):
    assert chain_facts(ca.server_cert, ca, "::1").matched == "IP ::1"
    assert chain_facts(ca.server_cert, ca, "127.0.0.1").matched == "IP 127.0.0.1"
    facts = certificate_facts(ca)
    assert facts.self_signed and facts.is_ca and facts.subject == facts.issuer and facts.names == ()
    assert certificate_facts(ca.server_cert.pem) == chain_facts(ca.server_cert, ca, "localhost").leaf


def test_chain_facts_refuses_what_is_not_a_certificate_in_a_sentence(ca):
    with pytest.raises(ArgumentTypeError, match="Expected a Certificate or PEM bytes"):
        chain_facts("server.crt", ca, "localhost")
    with pytest.raises(ArgumentTypeError, match="The case must be a short label"):
        chain_facts(ca.server_cert, ca, "localhost", case=3)
    with pytest.raises(ArgumentTypeError, match="Expected a Certificate, a CertificateAuthority or PEM bytes"):
        certificate_facts(42)
    with pytest.raises(CertificateError, match="is not a PEM certificate"):
        certificate_facts(b"-----BEGIN NOTHING-----")
