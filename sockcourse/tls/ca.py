"""A throw-away certificate authority for the course, and the certificates it issues.

`CertificateAuthority()` makes a certificate authority on the fly (with
trustme), keeps its certificates and keys as files in a private temporary
directory, and removes that directory when it stops: at the end of a `with`
block, at `close()` (or `stop()`), at `sockcourse.stop_all()`, or when the
cell that made it runs again. It issues good certificates and, for the
lessons, deliberately bad ones: for the wrong host name, or expired; a second
authority plays "a CA nobody trusts". Its `server_context()` and
`client_context()` are ordinary `ssl.SSLContext`s that trust only this
authority (see `contexts`).

The authority's own private key never touches the disk; each certificate's
key is written 0600 inside the authority's 0700 directory, under a file name
made from a plain label, so no label can put a key anywhere else.
"""

from __future__ import annotations

import datetime
import os
import shutil
import ssl
import tempfile
import threading
from pathlib import Path

import trustme

from ..core.checks import check_label
from ..core.errors import ArgumentError, ArgumentTypeError, CertificateError
from ..core.lifecycle import Stoppable
from .contexts import client_context, server_context

__all__ = ["CLIENT_EMAIL", "CLIENT_NAME", "ORGANIZATION", "SERVER_NAMES", "Certificate", "CertificateAuthority"]

#: The names the course's server certificate is valid for: what a client on
#: this machine may put in `server_hostname`.
SERVER_NAMES = ("localhost", "127.0.0.1", "::1")

#: The common name (and e-mail address) of the course's client certificate.
CLIENT_NAME = "student"
CLIENT_EMAIL = "student@sockcourse.example"

#: The organisation written into every certificate the course makes. Fixed
#: names (trustme would pick random ones) keep printed certificates the same
#: from run to run.
ORGANIZATION = "sockcourse"


def _utc(value, what: str) -> datetime.datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime.datetime):
        raise ArgumentTypeError(f"The {what} must be a datetime.datetime, but got {value!r} "
                                f"(type {type(value).__name__}); for example "
                                f"datetime.datetime.now(datetime.timezone.utc).")
    # A naive datetime is taken as UTC, the zone certificates are written in.
    return value if value.tzinfo else value.replace(tzinfo=datetime.timezone.utc)


class Certificate:
    """A certificate and its private key, stored as two PEM files by its authority.

    `cert_file` holds the certificate, `key_file` the private key (keep it
    secret: whoever has it can pose as the certificate's owner). No public
    constructor: use `ca.issue(...)`.
    """

    def __init__(self, authority: "CertificateAuthority", label: str, names: tuple, common_name,
                 leaf: trustme.LeafCert, not_before, not_after):
        self.authority = authority
        self.label = label
        self.names = names
        self.common_name = common_name
        self.not_before = not_before
        self.not_after = not_after
        self.pem = leaf.cert_chain_pems[0].bytes()
        folder = Path(authority.directory)
        self.cert_file = str(folder / f"{label}.crt")
        self.key_file = str(folder / f"{label}.key")
        leaf.cert_chain_pems[0].write_to_path(self.cert_file)
        # Created private (0600) before the key is written, so no other user ever can read it.
        descriptor = os.open(self.key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as out:
            out.write(leaf.private_key_pem.bytes())

    @property
    def expired(self) -> bool:
        return self.not_after is not None and self.not_after < datetime.datetime.now(datetime.timezone.utc)

    def server_context(self, *, require_client_cert: bool = False) -> ssl.SSLContext:
        """A server context that presents this certificate (see CertificateAuthority.server_context)."""
        return self.authority.server_context(self, require_client_cert=require_client_cert)

    def __repr__(self) -> str:
        who = ", ".join(self.names) or self.common_name
        state = " (expired)" if self.expired else ""
        return f"<Certificate {self.label!r} for {who}, issued by {self.authority.name!r}{state}>"


class CertificateAuthority(Stoppable):
    """A throw-away certificate authority with its files in a private temporary directory.

    Use it in a `with` block, or call `close()` (the same as `stop()`) when
    done; it is safe twice. `server_cert` (for localhost, 127.0.0.1 and ::1)
    and `client_cert` (for the student) are made the first time they are
    used; `issue()` makes more.
    """

    what = "certificate authority"

    def __init__(self, name: str = "sockcourse course CA"):
        if not isinstance(name, str) or not name.strip():
            raise ArgumentTypeError(f"The authority's name must be a non-empty string, but got {name!r}; "
                                    f"for example CertificateAuthority('a stranger\\'s CA').")
        super().__init__(name)
        self._lock = threading.Lock()
        self._certificates: dict[str, Certificate] = {}
        self.directory: str | None = None
        self._launch()

    def _start(self) -> None:
        self.directory = tempfile.mkdtemp(prefix="sockcourse-")  # 0700: mkdtemp makes it private
        self._ca = trustme.CA(organization_name=ORGANIZATION, organization_unit_name=self.name)
        self.cert_pem = self._ca.cert_pem.bytes()
        self.ca_file = os.path.join(self.directory, "ca.crt")
        self._ca.cert_pem.write_to_path(self.ca_file)

    def _close(self) -> None:
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)

    def close(self) -> None:
        """Remove the private directory with every certificate and key; safe twice (the same as stop())."""
        self.stop()

    @property
    def closed(self) -> bool:
        return not self.running

    # -- certificates ------------------------------------------------------------
    def issue(self, *names: str, common_name: str | None = None, expired: bool = False,
              not_before: datetime.datetime | None = None, not_after: datetime.datetime | None = None,
              label: str | None = None) -> Certificate:
        """Issue a certificate for `names` (host names, IP addresses or e-mail addresses).

        expired=True makes one whose validity ended yesterday (and began a month
        ago); not_before/not_after set the dates yourself. label: a plain name
        for its files (letters, digits, '-' and '_'); by default cert1, cert2, ...
        """
        self._check_open("issue a certificate")
        for name in names:
            if not isinstance(name, str) or not name:
                raise ArgumentTypeError(f"Each name must be a non-empty string such as 'localhost', but got "
                                        f"{name!r}; pass names one by one: ca.issue('localhost', '127.0.0.1').")
        if not names and common_name is None:
            raise ArgumentError("A certificate must name someone, but no name was given; "
                                "pass a host name, for example ca.issue('localhost').")
        if common_name is not None and (not isinstance(common_name, str) or not common_name):
            raise ArgumentTypeError(f"The common_name must be a non-empty string such as 'student', but got "
                                    f"{common_name!r}.")
        if label is not None:
            label = check_label(label)  # before any file is written: a label is a file name
        not_before, not_after = _utc(not_before, "not_before"), _utc(not_after, "not_after")
        if expired:
            if not_after is not None:
                raise ArgumentError(f"The setting expired=True sets the expiry date itself, but not_after={not_after!r} "
                                    f"was given too; pass one of them.")
            now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
            not_before = not_before or now - datetime.timedelta(days=30)
            not_after = now - datetime.timedelta(days=1)
        if not_before is not None and not_after is not None and not_after <= not_before:
            raise ArgumentError(f"The certificate would expire ({not_after}) before it becomes valid "
                                f"({not_before}); make not_after later than not_before.")
        with self._lock:
            label = label or f"cert{len(self._certificates) + 1}"
            if label in self._certificates:
                raise ArgumentError(f"This authority already has a certificate labelled {label!r}; "
                                    f"pick another label, or leave label out.")
            try:
                leaf = self._ca.issue_cert(*names, common_name=common_name, organization_name=ORGANIZATION,
                                           organization_unit_name=label, not_before=not_before,
                                           not_after=not_after)
            except ValueError as exc:  # idna's errors (a space, a name too long) are ValueErrors
                shown = (f"name {names[0]!r}" if len(names) == 1 else f"names {names!r}" if names
                         else f"common name {common_name!r}")
                raise ArgumentError(
                    f"The {shown} cannot go into a certificate ({exc}); a host name is letters, "
                    f"digits, '-' and dots, at most 253 characters (for example 'localhost'), or pass an "
                    f"IP address such as '127.0.0.1' or an e-mail address.") from None
            certificate = Certificate(self, label, tuple(names), common_name, leaf, not_before, not_after)
            self._certificates[label] = certificate
        return certificate

    def _named(self, label: str, make) -> Certificate:
        with self._lock:
            found = self._certificates.get(label)
        return found if found is not None else make()

    @property
    def server_cert(self) -> Certificate:
        """The course's server certificate, for localhost, 127.0.0.1 and ::1."""
        return self._named("server", lambda: self.issue(*SERVER_NAMES, label="server"))

    @property
    def client_cert(self) -> Certificate:
        """The course's client certificate, for mutual TLS: its common name is 'student'."""
        return self._named("client", lambda: self.issue(CLIENT_EMAIL, common_name=CLIENT_NAME, label="client"))

    @property
    def certificates(self) -> list[Certificate]:
        with self._lock:
            return list(self._certificates.values())

    # -- contexts ------------------------------------------------------------------
    def server_context(self, cert: Certificate | None = None, *,
                       require_client_cert: bool = False) -> ssl.SSLContext:
        """An SSLContext for a server that presents `cert` (the server certificate by default).

        require_client_cert=True is mutual TLS: the server refuses a client that
        does not present a certificate issued by this authority.
        """
        self._check_open("make a server context")
        cert = self.server_cert if cert is None else self._own(cert)
        return server_context(cert.cert_file, cert.key_file, cafile=self.ca_file if require_client_cert else None,
                              require_client_cert=require_client_cert)

    def client_context(self, cert: Certificate | None = None) -> ssl.SSLContext:
        """An SSLContext for a client that trusts this authority only, and checks host names.

        cert: a client certificate to present, for mutual TLS (ca.client_cert).
        """
        self._check_open("make a client context")
        if cert is not None:
            cert = self._own(cert)
        return client_context(self.ca_file, certfile=cert.cert_file if cert else None,
                              keyfile=cert.key_file if cert else None)

    def _own(self, cert) -> Certificate:
        if not isinstance(cert, Certificate):
            raise ArgumentTypeError(f"Expected a Certificate (from ca.issue(...)), but got {cert!r} "
                                    f"(type {type(cert).__name__}); for example ca.server_cert.")
        return cert

    def _check_open(self, what: str) -> None:
        if not self.running:
            raise CertificateError(f"The authority {self.name!r} is closed, so it cannot {what} "
                                   f"(its files are gone). In a notebook, run again the cell that made it and the "
                                   f"cells after it that use it (Run All runs them all); elsewhere make a new one, "
                                   f"CertificateAuthority(), and new contexts from it.")

    def __repr__(self) -> str:
        state = "open" if self.running else "closed"
        count = len(self._certificates)
        return f"<CertificateAuthority {self.name!r}, {count} certificate{'s' * (count != 1)}, {state}>"
