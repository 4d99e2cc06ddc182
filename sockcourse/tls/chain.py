"""A chain of trust, read from the certificates themselves: the CA the client trusts, the server's, the name.

A client that trusts one CA (its trust store holds that CA's certificate)
accepts a server's certificate by following a chain (RFC 5280, section 6.1):

1. it looks in its store for the certificate whose subject is the server
   certificate's issuer; none means OpenSSL's "unable to get local issuer
   certificate";
2. it checks the server certificate's signature with that CA's public key;
3. it looks for the name it asked for among the server certificate's
   subjectAltName entries (RFC 9525), and checks that today is within the
   certificate's dates.

The CA's own certificate is self-signed (its issuer is its own subject, and
its own key verifies its signature) and says, in its basicConstraints
extension, that it may sign others (RFC 5280, section 4.2.1.9).

`chain_facts` reads all of that from the PEM certificates with the
`cryptography` package (which trustme is built on) and returns plain data,
for `sockcourse.viz.trust_chain`. The three answers come from
`check_certificate`, so they agree with the chapter's grid of checks.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from ..core.errors import ArgumentTypeError, CertificateError, CourseBugError
from .ca import Certificate, CertificateAuthority
from .checks import CHECKS, check_certificate

__all__ = ["CertificateFacts", "TrustChain", "chain_facts", "certificate_facts"]


@dataclass(frozen=True)
class CertificateFacts:
    """What a certificate says, as text a picture can show."""

    subject: str          # "O=sockcourse, OU=server"
    issuer: str           # the subject of the CA that signed it
    names: tuple          # subjectAltName entries, such as ("DNS localhost", "IP 127.0.0.1")
    not_before: str       # "2000-01-01"
    not_after: str
    is_ca: bool           # basicConstraints: may it sign other certificates?
    self_signed: bool     # its issuer is its subject, and its own public key verifies its signature


@dataclass(frozen=True)
class TrustChain:
    """One server certificate's chain, as the client that trusts `anchor` and asks for `hostname` follows it."""

    case: str
    anchor: CertificateFacts  # the CA certificate in the client's trust store
    leaf: CertificateFacts    # the certificate the server presents
    hostname: str             # the name the client asked for (server_hostname)
    issuer_found: bool        # the leaf's issuer is the anchor's subject
    signed: bool              # and the anchor's public key verifies the leaf's signature
    matched: str | None       # the subjectAltName entry that matches hostname, if one does
    in_dates: bool            # today is within the leaf's dates


def _load(pem: bytes, what: str):
    from cryptography import x509

    try:
        return x509.load_pem_x509_certificate(bytes(pem))
    except ValueError:
        raise CertificateError(f"The {what} {bytes(pem)[:40]!r}... is not a PEM certificate; pass a Certificate "
                               f"(ca.server_cert) or its .pem.") from None


def _name(name) -> str:
    # In the order the certificate holds them, as getpeercert() prints them ("O=..., OU=...").
    return ", ".join(f"{attribute.rfc4514_attribute_name}={attribute.value}" for rdn in name.rdns
                     for attribute in rdn)


def _entries(certificate) -> list:
    from cryptography import x509

    try:
        names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    entries = [("DNS", value) for value in names.get_values_for_type(x509.DNSName)]
    entries += [("IP", value) for value in names.get_values_for_type(x509.IPAddress)]
    entries += [("email", value) for value in names.get_values_for_type(x509.RFC822Name)]
    return entries


def _facts(certificate) -> CertificateFacts:
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature

    try:
        is_ca = certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    try:
        certificate.verify_directly_issued_by(certificate)
        self_signed = True
    except (ValueError, TypeError, InvalidSignature):
        self_signed = False
    return CertificateFacts(
        subject=_name(certificate.subject), issuer=_name(certificate.issuer),
        names=tuple(f"{kind} {value}" for kind, value in _entries(certificate)),
        not_before=certificate.not_valid_before_utc.date().isoformat(),
        not_after=certificate.not_valid_after_utc.date().isoformat(), is_ca=is_ca, self_signed=self_signed)


def certificate_facts(certificate) -> CertificateFacts:
    """What one certificate says: a Certificate, a CertificateAuthority (its own certificate) or PEM bytes."""
    if isinstance(certificate, CertificateAuthority):
        pem = certificate.cert_pem
    elif isinstance(certificate, Certificate):
        pem = certificate.pem
    elif isinstance(certificate, (bytes, bytearray)):
        pem = certificate
    else:
        raise ArgumentTypeError(f"Expected a Certificate, a CertificateAuthority or PEM bytes, but got "
                                f"{certificate!r:.60} (type {type(certificate).__name__}); for example "
                                f"ca.server_cert.")
    return _facts(_load(pem, "certificate"))


def _matching(entries, hostname: str) -> str | None:
    # The same rule as check_certificate: DNS names without regard to case, addresses as addresses.
    try:
        address = ipaddress.ip_address(hostname.strip("[]"))
    except ValueError:
        address = None
    for kind, value in entries:
        if (kind == "DNS" and value.lower() == hostname.lower()) or (kind == "IP" and value == address):
            return f"{kind} {value}"
    return None


def chain_facts(certificate, trusted: CertificateAuthority, hostname: str, *, case: str = "") -> TrustChain:
    """Follow `certificate`'s chain as a client that trusts only `trusted` and asks for `hostname` does.

    certificate: a Certificate (or its PEM bytes) the server presents.
    trusted: the CertificateAuthority in the client's trust store.
    hostname: the name the client asked for ('localhost'). case: a label
    for the picture, such as 'issued by a stranger's CA'.
    """
    if not isinstance(case, str):
        raise ArgumentTypeError(f"The case must be a short label as a string, but got {case!r} (type "
                                f"{type(case).__name__}); for example case='expired yesterday'.")
    # check_certificate checks the certificate, the CA and the name, and says what is wrong in a sentence.
    answers = check_certificate(certificate, trusted, hostname)
    signed, named, in_dates = (answers[check] for check in CHECKS)
    leaf = _load(certificate.pem if isinstance(certificate, Certificate) else certificate, "certificate")
    anchor = _load(trusted.cert_pem, "CA certificate")
    matched = _matching(_entries(leaf), hostname)
    if (matched is not None) != named:
        raise CourseBugError(f"The name check and the subjectAltName entries disagree about {hostname!r} "
                             f"({matched!r}); this should never happen, please report it with this message.")
    return TrustChain(case=case, anchor=_facts(anchor), leaf=_facts(leaf), hostname=hostname,
                      issuer_found=leaf.issuer == anchor.subject, signed=signed, matched=matched,
                      in_dates=in_dates)
