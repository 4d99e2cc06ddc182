"""SSLContexts from PEM files, with errors a learner can act on: for servers, for clients, for serve(tls=...).

Each is an ordinary `ssl.SSLContext`. A client's trusts only the CA it is
given and checks host names (`ssl.create_default_context`); a server's
presents one certificate and, for mutual TLS, asks every client for one
issued by a given CA. A file that is missing, or that OpenSSL cannot read,
is said in a sentence that names it.
"""

from __future__ import annotations

import ssl

from ..core.checks import check_flag, check_path
from ..core.errors import ArgumentError, CertificateError
from ..servers.threaded import server_context_for

__all__ = ["client_context", "server_context", "server_side_context"]


def check_file(path, what: str) -> str:
    """Return `path` as a string if it names an existing PEM file; raise a sentence otherwise."""
    return check_path(path, what, example="ca.server_cert.cert_file", exists=True,
                      hint="check the path, or let sockcourse.tls.CertificateAuthority() make the files for you")


def server_context(certfile, keyfile=None, *, cafile=None, require_client_cert: bool = False) -> ssl.SSLContext:
    """An SSLContext for a server, from PEM files: its certificate, its key, and for mutual TLS a CA.

    keyfile may be left out when certfile holds the key too.
    """
    certfile = check_file(certfile, "certificate file")
    keyfile = None if keyfile is None else check_file(keyfile, "key file")
    require_client_cert = check_flag(require_client_cert, "require_client_cert")
    if require_client_cert and cafile is None:
        raise ArgumentError("Mutual TLS (require_client_cert=True) needs the CA that issued the clients' "
                            "certificates; pass cafile=ca.ca_file.")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(certfile, keyfile)
    except ssl.SSLError as exc:
        raise CertificateError(
            f"OpenSSL could not load a certificate and its private key from {certfile!r}"
            f"{'' if keyfile is None else f' and {keyfile!r}'} ({exc.reason or exc}); both must be PEM, "
            f"and the key must belong to the certificate.") from None
    if require_client_cert:
        context.verify_mode = ssl.CERT_REQUIRED
        cafile = check_file(cafile, "CA file")
        try:
            context.load_verify_locations(cafile=cafile)
        except ssl.SSLError as exc:
            raise CertificateError(f"OpenSSL found no CA certificate it could read in {cafile!r} "
                                   f"({exc.reason or exc}); pass a PEM file such as ca.ca_file.") from None
    return context


def client_context(cafile, *, certfile=None, keyfile=None) -> ssl.SSLContext:
    """An SSLContext for a client that trusts only the CA in `cafile` and checks host names."""
    cafile = check_file(cafile, "CA file")
    try:
        context = ssl.create_default_context(cafile=cafile)
    except ssl.SSLError as exc:
        raise CertificateError(f"OpenSSL found no CA certificate it could read in {cafile!r} "
                               f"({exc.reason or exc}); pass a PEM file such as ca.ca_file.") from None
    if certfile is not None:
        certfile = check_file(certfile, "certificate file")
        keyfile = None if keyfile is None else check_file(keyfile, "key file")
        try:
            context.load_cert_chain(certfile, keyfile)
        except ssl.SSLError as exc:
            raise CertificateError(f"OpenSSL could not load a client certificate and key from {certfile!r} "
                                   f"({exc.reason or exc}); both must be PEM.") from None
    return context


def server_side_context(tls) -> ssl.SSLContext:
    """What serve(tls=...) accepts, turned into a server's SSLContext; a clear error otherwise.

    An ssl.SSLContext for a server, a CertificateAuthority (its server
    certificate), a Certificate, or the path of a PEM file that holds a
    certificate and its key. serve() itself decides this (by shape, so that
    servers need not import this package); this is the same decision, here
    where a reader of the TLS code looks for it.
    """
    return server_context_for(tls)
