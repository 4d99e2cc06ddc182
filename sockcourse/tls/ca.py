"""TLS for the course: a throw-away certificate authority, and TLS on the course's servers.

`CertificateAuthority()` makes a certificate authority on the fly (with
trustme), keeps its certificates and keys as files in a private temporary
directory, and removes that directory when it is closed (a `with` block,
`close()`, `sockcourse.stop_all()`, or re-running the cell that made it).
It issues good certificates and, for the lessons, deliberately bad ones: for
the wrong host name, or expired; a second authority plays "a CA nobody
trusts". Its `server_context()` and `client_context()` are ordinary
`ssl.SSLContext`s that trust only this authority.

`serve(handler, tls=...)` (in servers.py) uses `server_side_context()` to
accept what a learner may pass, and `RecordingSSLSocket` so that the trace of
a TLS server holds the plaintext its handler read and wrote.

`openssl_s_client()` runs the OpenSSL command-line client, a TLS client that
nobody in this course wrote, against a server and returns what it printed.
"""

from __future__ import annotations

import datetime
import os
import shutil
import ssl
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import trustme

from ..core import lifecycle as registry
from ..core.errors import CertificateError, SockcourseError
from ..servers.recording import RecordingSSLSocket, handshake_failure  # noqa: F401 (old spellings)
from ..core.trace import Trace

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

#: How long openssl_s_client() waits for the whole exchange, in seconds.
S_CLIENT_TIMEOUT = 10.0


def _utc(value, what: str) -> datetime.datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime.datetime):
        raise TypeError(f"The {what} must be a datetime.datetime, but got {value!r} "
                        f"(a {type(value).__name__}); for example datetime.datetime.now(datetime.timezone.utc).")
    # A naive datetime is taken as UTC, the zone certificates are written in.
    return value if value.tzinfo else value.replace(tzinfo=datetime.timezone.utc)


class Certificate:
    """A certificate and its private key, stored as two PEM files by its authority.

    `cert_file` holds the certificate, `key_file` the private key (keep it
    secret: whoever has it can pose as the certificate's owner).
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


class CertificateAuthority:
    """A throw-away certificate authority with its files in a private temporary directory.

    Use it in a `with` block or call `close()` when done; close() is safe twice.
    `server_cert` (for localhost, 127.0.0.1 and ::1) and `client_cert` (for
    the student) are made the first time they are used; `issue()` makes more.
    """

    def __init__(self, name: str = "sockcourse course CA"):
        if not isinstance(name, str) or not name.strip():
            raise TypeError(f"The authority's name must be a non-empty string, but got {name!r}; "
                            f"for example CertificateAuthority('a stranger\\'s CA').")
        self.name = name
        self.explicit_name = None  # the registry replaces things by this name; an authority has none
        self._lock = threading.Lock()
        self._certificates: dict[str, Certificate] = {}
        self._closed = False
        self.directory = tempfile.mkdtemp(prefix="sockcourse-")
        try:
            self._ca = trustme.CA(organization_name=ORGANIZATION, organization_unit_name=name)
            self.cert_pem = self._ca.cert_pem.bytes()
            self.ca_file = os.path.join(self.directory, "ca.crt")
            self._ca.cert_pem.write_to_path(self.ca_file)
        except BaseException:
            shutil.rmtree(self.directory, ignore_errors=True)
            raise
        registry.add(self)

    # -- certificates ------------------------------------------------------------
    def issue(self, *names: str, common_name: str | None = None, expired: bool = False,
              not_before: datetime.datetime | None = None, not_after: datetime.datetime | None = None,
              label: str | None = None) -> Certificate:
        """Issue a certificate for `names` (host names, IP addresses or e-mail addresses).

        expired=True makes one whose validity ended yesterday (and began a month
        ago); not_before/not_after set the dates yourself.
        """
        self._check_open("issue a certificate")
        for name in names:
            if not isinstance(name, str) or not name:
                raise TypeError(f"Each name must be a non-empty string such as 'localhost', but got {name!r}; "
                                f"pass names one by one: ca.issue('localhost', '127.0.0.1').")
        if not names and common_name is None:
            raise ValueError("A certificate must name someone, but no name was given; "
                             "pass a host name, for example ca.issue('localhost').")
        not_before, not_after = _utc(not_before, "not_before"), _utc(not_after, "not_after")
        if expired:
            if not_after is not None:
                raise ValueError(f"expired=True sets the expiry date itself, but not_after={not_after!r} "
                                 f"was given too; pass one of them.")
            now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
            not_before = not_before or now - datetime.timedelta(days=30)
            not_after = now - datetime.timedelta(days=1)
        if not_before is not None and not_after is not None and not_after <= not_before:
            raise ValueError(f"The certificate would expire ({not_after}) before it becomes valid "
                             f"({not_before}); make not_after later than not_before.")
        with self._lock:
            label = label or f"cert{len(self._certificates) + 1}"
            if label in self._certificates:
                raise ValueError(f"This authority already has a certificate labelled {label!r}; "
                                 f"pick another label, or leave label out.")
            leaf = self._ca.issue_cert(*names, common_name=common_name, organization_name=ORGANIZATION,
                                       organization_unit_name=label, not_before=not_before,
                                       not_after=not_after)
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
        context = server_context(cert.cert_file, cert.key_file,
                                 cafile=self.ca_file if require_client_cert else None,
                                 require_client_cert=require_client_cert)
        return context

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
            raise TypeError(f"Expected a Certificate (from ca.issue(...)), but got {cert!r} "
                            f"(a {type(cert).__name__}); for example ca.server_cert.")
        return cert

    def _check_open(self, what: str) -> None:
        if self._closed:
            raise CertificateError(f"The authority {self.name!r} is closed, so it cannot {what} "
                                   f"(its files are gone); make a new one: ca = CertificateAuthority().")

    # -- lifetime ------------------------------------------------------------------
    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Remove the private directory with every certificate and key; safe twice."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        shutil.rmtree(self.directory, ignore_errors=True)
        registry.discard(self)

    stop = close  # what stop_all() and the registry call

    @property
    def running(self) -> bool:
        return not self._closed

    def __enter__(self) -> "CertificateAuthority":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        count = len(self._certificates)
        return f"<CertificateAuthority {self.name!r}, {count} certificate{'s' * (count != 1)}, {state}>"


# -- contexts from files, with errors a learner can act on ---------------------------
def _check_file(path, what: str) -> str:
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    if isinstance(path, os.PathLike):
        path = os.fspath(path)
    if not isinstance(path, str) or not path:
        raise TypeError(f"The {what} must be a path to a PEM file, but got {path!r} (a {type(path).__name__}); "
                        f"for example ca.server_cert.cert_file.")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"The {what} {path!r} does not exist (or is not a file); check the path, "
                                f"or let sockcourse.tls.CertificateAuthority() make the files for you.")
    return path


def server_context(certfile, keyfile=None, *, cafile=None, require_client_cert: bool = False) -> ssl.SSLContext:
    """An SSLContext for a server, from PEM files: its certificate, its key, and for mutual TLS a CA.

    keyfile may be left out when certfile holds the key too.
    """
    certfile = _check_file(certfile, "certificate file")
    keyfile = None if keyfile is None else _check_file(keyfile, "key file")
    if not isinstance(require_client_cert, bool):
        raise TypeError(f"require_client_cert must be True or False, but got {require_client_cert!r}.")
    if require_client_cert and cafile is None:
        raise ValueError("Mutual TLS (require_client_cert=True) needs the CA that issued the clients' "
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
        context.load_verify_locations(cafile=_check_file(cafile, "CA file"))
    return context


def client_context(cafile, *, certfile=None, keyfile=None) -> ssl.SSLContext:
    """An SSLContext for a client that trusts only the CA in `cafile` and checks host names."""
    cafile = _check_file(cafile, "CA file")
    try:
        context = ssl.create_default_context(cafile=cafile)
    except ssl.SSLError as exc:
        raise CertificateError(f"OpenSSL found no CA certificate it could read in {cafile!r} "
                               f"({exc.reason or exc}); pass a PEM file such as ca.ca_file.") from None
    if certfile is not None:
        certfile = _check_file(certfile, "certificate file")
        keyfile = None if keyfile is None else _check_file(keyfile, "key file")
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
    certificate and its key.
    """
    if isinstance(tls, ssl.SSLContext):
        if tls.protocol == ssl.PROTOCOL_TLS_CLIENT:
            raise ValueError("serve(tls=...) got a client context (PROTOCOL_TLS_CLIENT), which cannot accept "
                             "connections; pass a server context, such as ca.server_context().")
        return tls
    if isinstance(tls, CertificateAuthority):
        return tls.server_context()
    if isinstance(tls, Certificate):
        return tls.server_context()
    if isinstance(tls, (str, os.PathLike)):
        return server_context(tls)
    if isinstance(tls, bool):
        raise TypeError(f"tls={tls!r} does not say which certificate the server should present; "
                        f"make one and pass it: ca = sockcourse.tls.CertificateAuthority(), then tls=ca.")
    raise TypeError(f"tls= expects an ssl.SSLContext for a server, a CertificateAuthority, a Certificate "
                    f"or the path of a PEM file, but got {tls!r} (a {type(tls).__name__}); "
                    f"for example tls=sockcourse.tls.CertificateAuthority().")


# -- an outside client: openssl s_client ------------------------------------------------
@dataclass
class SClientResult:
    """What `openssl s_client` printed, and how it ended."""

    command: list
    returncode: int | None
    stdout: str
    stderr: str
    got_reply: bool

    def lines(self, *starts: str) -> list[str]:
        """The lines of stdout (stripped) that start with one of `starts` (all lines if none given)."""
        lines = [line.strip() for line in self.stdout.splitlines()]
        return [line for line in lines if not starts or line.startswith(starts)]

    @property
    def verify_line(self) -> str | None:
        found = self.lines("Verify return code:")
        return found[-1] if found else None


def openssl_s_client(address, cafile, *, servername: str = "localhost", send: bytes = b"hello\n",
                     extra: tuple = (), timeout: float = S_CLIENT_TIMEOUT) -> SClientResult:
    """Run `openssl s_client` against `address`, send one line, and wait for it to come back.

    The client keeps its standard input open until the reply has arrived (at
    end of input it would hang up at once, perhaps before the reply), then
    closes it, which makes s_client end the session and exit.
    """
    openssl = shutil.which("openssl")
    if openssl is None:
        raise FileNotFoundError("The openssl program is not installed (or not on PATH), so there is no "
                                "outside client to try; install it with your package manager (apt install openssl).")
    host, port = address[0], address[1]
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    command = [openssl, "s_client", "-connect", where, "-servername", servername,
               "-CAfile", _check_file(cafile, "CA file"), "-verify_return_error", *extra]
    expected = send.strip()
    with subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        out, err = bytearray(), bytearray()
        readers = [threading.Thread(target=_drain, args=(proc.stdout, out), daemon=True),
                   threading.Thread(target=_drain, args=(proc.stderr, err), daemon=True)]
        for reader in readers:
            reader.start()
        got_reply = False
        deadline = time.monotonic() + timeout
        try:
            proc.stdin.write(send)
            proc.stdin.flush()
            while time.monotonic() < deadline and proc.poll() is None:
                if expected and any(line.strip() == expected for line in bytes(out).splitlines()):
                    got_reply = True
                    break
                time.sleep(0.01)
        except BrokenPipeError:
            pass  # s_client gave up early (a failed verification): its output says why
        finally:
            try:
                proc.stdin.close()
            except BrokenPipeError:
                pass
            try:
                proc.wait(timeout=max(1.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
            for reader in readers:
                reader.join(timeout=5)
    return SClientResult([os.path.basename(command[0]), *command[1:]], proc.returncode,
                         out.decode(errors="replace"), err.decode(errors="replace"), got_reply)


def _drain(stream, into: bytearray) -> None:
    for chunk in iter(lambda: stream.read1(4096), b""):
        into.extend(chunk)


# -- TLS records, as a relay sees them -----------------------------------------------------
#: The record types of TLS (RFC 8446, section 5.1; RFC 5246, section 6.2.1).
RECORD_TYPES = {20: "change_cipher_spec", 21: "alert", 22: "handshake", 23: "application_data"}


@dataclass(frozen=True)
class Record:
    """One TLS record: the 5-byte header is in the clear, the body (after the handshake) is not."""

    type: int
    version: int
    body: bytes

    @property
    def name(self) -> str:
        return RECORD_TYPES.get(self.type, f"type {self.type}")


def split_records(stream: bytes) -> list[Record]:
    """Cut one direction of a TLS connection, as bytes, into its records (a cut-off last one is left out)."""
    if not isinstance(stream, (bytes, bytearray)):
        raise TypeError(f"Expected the bytes of one direction of a TLS connection, but got {stream!r:.60}.")
    records, at = [], 0
    while at + 5 <= len(stream):
        kind, version, length = stream[at], int.from_bytes(stream[at + 1:at + 3], "big"), \
            int.from_bytes(stream[at + 3:at + 5], "big")
        if kind not in RECORD_TYPES:
            raise ValueError(f"The bytes at offset {at} do not start a TLS record (type {kind}); pass one "
                             f"direction of a TLS connection from its first byte.")
        if at + 5 + length > len(stream):
            break
        records.append(Record(kind, version, bytes(stream[at + 5:at + 5 + length])))
        at += 5 + length
    return records


# -- the checks a client makes, one by one ----------------------------------------------
#: The three questions a TLS client asks of a server's certificate (RFC 5280, RFC 9525).
CHECKS = ("issued by a CA we trust", "for the name we asked for", "within its dates")


def check_certificate(cert, trusted: CertificateAuthority, hostname: str) -> dict:
    """Answer each of CHECKS for `cert` by hand (True or False), the way a client would.

    cert: a Certificate, or its PEM bytes. OpenSSL stops at the first check
    that fails; this asks all three, to show which ones a bad certificate breaks.
    """
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature

    pem = cert.pem if isinstance(cert, Certificate) else cert
    if not isinstance(pem, (bytes, bytearray)):
        raise TypeError(f"Expected a Certificate or PEM bytes, but got {cert!r}; for example ca.server_cert.")
    if not isinstance(trusted, CertificateAuthority):
        raise TypeError(f"trusted must be the CertificateAuthority the client trusts, but got {trusted!r}.")
    leaf = x509.load_pem_x509_certificate(bytes(pem))
    authority = x509.load_pem_x509_certificate(trusted.cert_pem)
    try:
        leaf.verify_directly_issued_by(authority)
        issued = True
    except (ValueError, TypeError, InvalidSignature):
        issued = False
    try:
        names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns = [name.lower() for name in names.get_values_for_type(x509.DNSName)]
        addresses = [str(address) for address in names.get_values_for_type(x509.IPAddress)]
    except x509.ExtensionNotFound:
        dns, addresses = [], []
    matches = hostname.lower() in dns or hostname in addresses
    now = datetime.datetime.now(datetime.timezone.utc)
    in_date = leaf.not_valid_before_utc <= now <= leaf.not_valid_after_utc
    return dict(zip(CHECKS, (issued, matches, in_date)))
