"""The three questions a TLS client asks of a server's certificate, answered one by one, by hand.

OpenSSL stops at the first check that fails and reports only that one;
`check_certificate` asks all three (RFC 5280 for the signature and the
dates, RFC 9525 for the name), so a lesson can show which of them a bad
certificate breaks.
"""

from __future__ import annotations

import datetime
import ipaddress

from ..core.errors import ArgumentTypeError, CertificateError
from .ca import Certificate, CertificateAuthority

__all__ = ["CHECKS", "check_certificate"]

#: The three questions a TLS client asks of a server's certificate (RFC 5280, RFC 9525).
CHECKS = ("issued by a CA we trust", "for the name we asked for", "within its dates")


def check_certificate(cert, trusted: CertificateAuthority, hostname: str) -> dict:
    """Answer each of CHECKS for `cert` by hand (True or False), the way a client would.

    cert: a Certificate, or its PEM bytes. trusted: the CertificateAuthority
    the client trusts. hostname: the name the client asked for ('localhost').
    """
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature

    pem = cert.pem if isinstance(cert, Certificate) else cert
    if not isinstance(pem, (bytes, bytearray)):
        raise ArgumentTypeError(f"Expected a Certificate or PEM bytes, but got {cert!r} (type {type(cert).__name__}); "
                                f"for example ca.server_cert.")
    if not isinstance(trusted, CertificateAuthority):
        raise ArgumentTypeError(f"The CA given as trusted must be the CertificateAuthority the client trusts, but got {trusted!r} "
                                f"(type {type(trusted).__name__}); for example trusted=ca.")
    if not isinstance(hostname, str) or not hostname:
        raise ArgumentTypeError(f"The hostname must be the name the client asked for, as a string, but got "
                                f"{hostname!r} (type {type(hostname).__name__}); for example hostname='localhost'.")
    try:
        leaf = x509.load_pem_x509_certificate(bytes(pem))
    except ValueError:
        raise CertificateError(f"The bytes {bytes(pem)[:40]!r}... are not a PEM certificate; pass a Certificate "
                               f"(ca.server_cert) or its .pem.") from None
    authority = x509.load_pem_x509_certificate(trusted.cert_pem)
    try:
        leaf.verify_directly_issued_by(authority)
        issued = True
    except (ValueError, TypeError, InvalidSignature):
        issued = False
    try:
        names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns = [name.lower() for name in names.get_values_for_type(x509.DNSName)]
        addresses = [address for address in names.get_values_for_type(x509.IPAddress)]
    except x509.ExtensionNotFound:
        dns, addresses = [], []
    matches = hostname.lower() in dns or _same_address(hostname, addresses)
    now = datetime.datetime.now(datetime.timezone.utc)
    in_date = leaf.not_valid_before_utc <= now <= leaf.not_valid_after_utc
    return dict(zip(CHECKS, (issued, matches, in_date)))


def _same_address(hostname: str, addresses) -> bool:
    # Compared as addresses, not as text: '::1' and '0:0:0:0:0:0:0:1' are one address.
    try:
        wanted = ipaddress.ip_address(hostname.strip("[]"))
    except ValueError:
        return False
    return wanted in addresses
