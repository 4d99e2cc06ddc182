"""Chapter 05 homework (TLS): a client that verifies, mutual TLS, a reply that may be cut short, pinning.

q1 `make_client_context(cafile)`: a client's SSLContext that connects to the
   course's server and refuses, in the handshake, a certificate from an
   unknown CA, for another name, expired, not yet valid, self-signed, and a
   server that speaks only TLS 1.1.
q2 `mtls_server_context(cert_file, key_file, client_ca_file)` and, next to
   it in the same notebook, `client_identity(tls_sock)`: a server's context
   for mutual TLS that lets in only clients with a valid certificate from the
   clients' CA, and the name of the client a connection belongs to.
q3 `fetch(address, cafile, request)`: send a request over TLS to a server it
   verified (CA and name) and return the whole reply, which ends with the
   server's close_notify; a plain TCP close or a reset in the middle is a
   truncation and must raise. It closes its socket (judged by ResourceWarning).
q4 `connect_pinned(address, cafile, pin)`: verify as usual, and also insist
   on one exact certificate, known by its SHA-256 fingerprint, on the very
   connection it returns (a condition's server switches certificates).

Every condition runs real TLS over loopback with certificates from a
throw-away `sockcourse.tls.CertificateAuthority` that the condition owns; the
reset of q3 comes from a sockcourse.link, placed by the link's own record.

q2 checks two functions with one call, `check.q2(mtls_server_context)`: it
finds `client_identity` beside it, in the globals of the module or notebook
that defined `mtls_server_context` (core.Question checks one object only).
"""

from __future__ import annotations

import datetime
import gc
import hashlib
import ipaddress
import os
import socket
import ssl
import threading
import time
import warnings
from dataclasses import dataclass

from ..core.errors import describe
from ..servers.threaded import serve
from ..tls.ca import SERVER_NAMES, CertificateAuthority
from .core import QUOTE_LIMIT, Question, failed, passed, plural, student_line, summary as _summary, text

CHAPTER = "05_tls"

#: What the check's servers greet a client with, once the handshake is done.
GREETING = b"hello from the course's server\n"


# -- what every question uses ------------------------------------------------------------
@dataclass
class Handshake:
    """How one of the check's client connections went."""

    kind: str                 # connected | refused (certificate) | failed (other TLS error) | misuse | late
    error: BaseException | None = None
    version: str | None = None
    reply: bytes = b""

    @property
    def completed(self) -> bool:
        """The client's handshake finished: it accepted the server's certificate."""
        return self.kind in ("connected", "late")

    def why(self) -> str:
        error = self.error
        if isinstance(error, ssl.SSLCertVerificationError) and error.verify_message:
            return f"{error.verify_message} (code {error.verify_code})"
        if isinstance(error, ssl.SSLError) and error.reason:
            return error.reason
        return describe(error) if error is not None else ""


def _authority(ctx, name: str = "the course's CA") -> CertificateAuthority:
    """A fresh certificate authority for this condition, closed (files and keys removed) at its end."""
    return ctx.own(CertificateAuthority(name))


def _connect(ctx, context: ssl.SSLContext, address, hostname: str = "localhost") -> Handshake:
    """The check's client: connect, do the handshake with `context`, read the server's first line."""
    raw = ctx.own(socket.create_connection(address, timeout=ctx.budget))
    try:
        secure = context.wrap_socket(raw, server_hostname=hostname)
    except ssl.SSLCertVerificationError as exc:
        return Handshake("refused", exc)
    except (ssl.SSLError, OSError) as exc:
        return Handshake("failed", exc)
    except (ValueError, TypeError) as exc:  # a server's context, or check_hostname without a name
        return Handshake("misuse", exc)
    ctx.own(secure)
    version = secure.version()
    try:
        reply = secure.recv(1024)
    except (ssl.SSLError, OSError) as exc:
        # TLS 1.3: a server that refuses the client's certificate says so after the client's handshake.
        return Handshake("late", exc, version)
    return Handshake("connected", None, version, reply)


def _greet(conn) -> None:
    try:
        conn.sendall(GREETING)
    except OSError:
        pass  # the client went away first; nothing to judge here


def _server(ctx, tls_context, handler=_greet):
    """A TLS server of the check's own (its handler is not the student's), owned by the condition."""
    return ctx.own(serve(handler, tls=tls_context, idle_timeout=ctx.budget))


def _der(pem: bytes) -> bytes:
    return ssl.PEM_cert_to_DER_cert(pem.decode("ascii"))


def _fingerprint(pem: bytes) -> str:
    """The SHA-256 of a certificate's DER bytes, as 64 lowercase hex digits."""
    return hashlib.sha256(_der(pem)).hexdigest()


def _self_signed(ctx, names=("localhost", "127.0.0.1")) -> tuple[str, str]:
    """A certificate for `names` that signs itself (no CA at all); (cert file, key file) in ctx.tmpdir."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "sockcourse"),
                         x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    alternatives = []
    for name in names:
        try:
            alternatives.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alternatives.append(x509.DNSName(name))
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName(alternatives), critical=False)
            .sign(key, hashes.SHA256()))
    cert_file = os.path.join(ctx.tmpdir, "self-signed.crt")
    key_file = os.path.join(ctx.tmpdir, "self-signed.key")
    with open(cert_file, "wb") as out:
        out.write(cert.public_bytes(serialization.Encoding.PEM))
    descriptor = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as out:
        out.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()))
    return cert_file, key_file


def _server_context_for(cert_file: str, key_file: str, *, tls12: bool = False) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    if tls12:
        context.maximum_version = ssl.TLSVersion.TLSv1_2
    return context


def _days_ago(days: int) -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0) - datetime.timedelta(days=days)


def _settings(context: ssl.SSLContext) -> str:
    """The settings of a context that decide what it accepts, for a report."""
    try:
        floor = context.minimum_version.name
    except (AttributeError, ValueError):
        floor = "?"
    return (f"verify_mode={context.verify_mode.name}, check_hostname={context.check_hostname}, "
            f"minimum_version={floor}")


#: verify_flags that ask for a certificate revocation list; the check's CAs publish none.
_CRL_FLAGS = ssl.VERIFY_CRL_CHECK_LEAF | ssl.VERIFY_CRL_CHECK_CHAIN


def _wants_crl(context: ssl.SSLContext) -> bool:
    return bool(context.verify_flags & _CRL_FLAGS)


def _flags(context: ssl.SSLContext) -> str:
    flags = context.verify_flags
    return flags.name or str(int(flags))


def _shown(value) -> str:
    """A value for a report, a str included as its repr (core.text leaves a str as it is)."""
    if not isinstance(value, str):
        return text(value)
    shown = repr(value)
    if len(shown) > QUOTE_LIMIT:
        shown = f"{shown[:QUOTE_LIMIT - 25]} ... {shown[-20:]} ({plural(len(value), 'character')})"
    return shown


# ====================================================================================
q1 = Question(CHAPTER, "q1", answer="make_client_context", title="A client context that verifies", section="4")

q1.hint("shape",
        "Return the context itself, an ssl.SSLContext made for a client: ssl.create_default_context(cafile=cafile) "
        "makes one whose defaults are the safe ones. A server's context (PROTOCOL_TLS_SERVER) cannot start a "
        "handshake as a client (chapter 05, section 2 'TLS: the same letter, sealed').")
q1.hint("trust-cafile",
        "Your context does not trust the CA in cafile, so it refuses even the course's good server ('unable to get "
        "local issuer certificate', code 20 in the table of section 4). Load that CA as a trust anchor: "
        "ssl.create_default_context(cafile=cafile), or load_verify_locations(cafile); load_cert_chain() is for a "
        "certificate of your own (chapter 05, section 2).")
q1.hint("verification-off",
        "verify_mode = CERT_NONE accepts any certificate from anyone: the connection is encrypted, but to whom? "
        "Keep CERT_REQUIRED (the default of create_default_context) and give the context the right CA instead "
        "(chapter 05, section 5 'Never turn the checks off').")
q1.hint("check-hostname",
        "With check_hostname = False a genuine certificate for another name passes, so anyone with a certificate "
        "for their own site can pose as yours. Leave check_hostname True (code 62 'Hostname mismatch' in "
        "chapter 05, section 4).")
q1.hint("dates",
        "Your context checks who signed the certificate and the name, but not the dates: something in "
        "verify_flags switched the time check off (OpenSSL's X509_V_FLAG_NO_CHECK_TIME). A certificate outside "
        "its dates must be refused (code 10 'certificate has expired' in chapter 05, section 4).")
q1.hint("tls-floor",
        "TLS 1.0 and 1.1 are deprecated (RFC 8996); refuse anything older than TLS 1.2. create_default_context "
        "already sets minimum_version to TLSv1_2 (section 2 prints it): do not lower it, and do not lower "
        "OpenSSL's security level with set_ciphers('...@SECLEVEL=0').")
q1.hint("option-bits",
        "The option bits OP_NO_TLSv1 and OP_NO_TLSv1_1 do refuse the old versions, but Python deprecated them in "
        "3.7: its ssl documentation says to set minimum_version instead. create_default_context already sets "
        "minimum_version = ssl.TLSVersion.TLSv1_2; keep it, and leave the options alone (chapter 05, section 2).")
q1.hint("verify-flags",
        "Your context trusts the right CA, yet refuses the course's good server: a flag you added to verify_flags "
        "asks for more than the certificates offer. VERIFY_CRL_CHECK_LEAF and VERIFY_CRL_CHECK_CHAIN want a "
        "certificate revocation list (CRL) for every certificate checked, and nobody gave you one ('unable to get "
        "certificate CRL', code 3). Leave verify_flags as create_default_context sets them (chapter 05, "
        "section 4).")


def _context_of(ctx, outcome, *, what: str, side: str, hint: str, bad_hint: str):
    """The SSLContext a student's factory returned for `side` ("client" or "server"), or the verdict why not."""
    want, other = (ssl.PROTOCOL_TLS_CLIENT, ssl.PROTOCOL_TLS_SERVER) if side == "client" else (
        ssl.PROTOCOL_TLS_SERVER, ssl.PROTOCOL_TLS_CLIENT)
    if not outcome.returned:
        return None, failed(f"your function {outcome.text()}", hint=bad_hint, sent=what,
                            expected=f"an ssl.SSLContext for a {side}", where=outcome.where or None)
    context = outcome.value
    if not isinstance(context, ssl.SSLContext):
        return None, failed(f"your function returned {_shown(context)}, not an ssl.SSLContext", hint=hint,
                            sent=what, expected=f"an ssl.SSLContext for a {side}",
                            got=f"{_shown(context)} (of type {type(context).__name__})")
    if context.protocol == other:
        doing = "connect as a client" if side == "client" else "accept connections"
        return None, failed(f"your function returned a context for the other side ({other.name}), which cannot "
                            f"{doing}", hint=hint, sent=what, expected=want.name, got=other.name)
    return context, None


def _client_context(student, ctx, ca):
    """Call make_client_context(cafile): (the context, None), or (None, the verdict of what went wrong)."""
    outcome = ctx.call(student, ca.ca_file)
    bad_hint = "trust-cafile" if outcome.raised and isinstance(outcome.error, ssl.SSLError) else "shape"
    return _context_of(ctx, outcome, what="make_client_context(cafile) with the course CA's file", side="client",
                       hint="shape", bad_hint=bad_hint)


def _good_failed(context, shake: Handshake, *, what: str, lead: str = ""):
    """The verdict when the student's context could not connect to the course's good server."""
    lead = lead or "your context could not connect to the course's own server"
    if shake.kind == "misuse":
        return failed(f"{lead}: wrap_socket raised {describe(shake.error)}", hint="shape", sent=what,
                      expected="a completed handshake")
    if shake.kind == "refused":
        crl = _wants_crl(context)
        return failed(f"{lead}: it refused a good certificate, {shake.why()}",
                      hint="verify-flags" if crl else "trust-cafile", sent=what, expected="a completed handshake",
                      got=f"ssl.SSLCertVerificationError; {_settings(context)}"
                          + (f", verify_flags={_flags(context)}" if crl else ""))
    ceiling = context.maximum_version
    ceiling_too_low = ceiling != ssl.TLSVersion.MAXIMUM_SUPPORTED and ceiling < ssl.TLSVersion.TLSv1_2
    return failed(f"{lead}: the handshake failed, {shake.why()}", hint="tls-floor" if ceiling_too_low else "shape",
                  sent=what, expected="a completed handshake", got=_settings(context))


def _accepted_hint(context, kind: str) -> str:
    """Which setting let a bad certificate through, as far as the context shows it."""
    if context.verify_mode == ssl.CERT_NONE:
        return "verification-off"
    if kind == "name":
        return "check-hostname"
    if kind == "dates":
        return "dates"
    return "verification-off"


def _refusal(student, ctx, *, bad, description: str, kind: str, hostname: str = "localhost"):
    """The student's context must refuse the server `bad(ca)` makes, and still accept the good one."""
    ca = _authority(ctx)
    context, verdict = _client_context(student, ctx, ca)
    if verdict:
        return verdict
    server = _server(ctx, bad(ca))
    shake = _connect(ctx, context, server.address, hostname)
    sent = f"a handshake with server_hostname={hostname!r} to a server presenting {description}"
    if shake.completed:
        hint = _accepted_hint(context, kind)
        return failed(f"your context accepted {description}: the handshake completed with {shake.version}",
                      hint=hint, sent=sent, expected="ssl.SSLCertVerificationError during the handshake",
                      got=f"connected; your context has {_settings(context)}")
    if shake.kind == "misuse":
        return failed(f"wrap_socket raised {describe(shake.error)} before any handshake", hint="shape", sent=sent,
                      expected="ssl.SSLCertVerificationError during the handshake")
    good = _connect(ctx, context, _server(ctx, ca.server_context()).address)
    if not good.completed:
        return _good_failed(context, good, what="a handshake with the course's good server, for localhost",
                            lead="your context refused it, but it refuses the course's good server too, so "
                                 "the refusal proves nothing")
    return passed(f"refused: {shake.why()}")


@q1.condition("good", "the course's server (a certificate from the CA in cafile) connects")
def _(student, ctx):
    ca = _authority(ctx)
    context, verdict = _client_context(student, ctx, ca)
    if verdict:
        return verdict
    hostname = ctx.rng.choice(["localhost", "127.0.0.1"]) if ctx.graded else "localhost"
    shake = _connect(ctx, context, _server(ctx, ca.server_context()).address, hostname)
    if not shake.completed:
        return _good_failed(context, shake, what=f"a handshake with the course's server, server_hostname={hostname!r}")
    if shake.reply != GREETING:
        return failed("the handshake completed, but the server's greeting did not arrive", hint="shape",
                      sent="a handshake, then one recv()", expected=text(GREETING), got=text(shake.reply))
    return passed(f"connected with {shake.version}")


@q1.condition("unknown-ca", "a certificate from a CA you were not given: refused")
def _(student, ctx):
    def bad(ca):
        return _server_context_for(*_files(_authority(ctx, "a stranger's CA").server_cert))
    return _refusal(student, ctx, bad=bad, description="a certificate for localhost from a stranger's CA",
                    kind="trust")


def _files(cert) -> tuple[str, str]:
    return cert.cert_file, cert.key_file


OTHER_NAMES = ["evil.example", "localhost.example", "www.localhost", "localhost.attacker.example", "bank.example"]


@q1.condition("wrong-name", "a genuine certificate for another name: refused")
def _(student, ctx):
    name = ctx.rng.choice(OTHER_NAMES) if ctx.graded else "other.example"
    return _refusal(student, ctx, bad=lambda ca: _server_context_for(*_files(ca.issue(name, label="other-name"))),
                    description=f"a certificate from the right CA, but for {name}", kind="name")


@q1.condition("expired", "a certificate that has expired: refused")
def _(student, ctx):
    days = ctx.rng.randint(1, 400) if ctx.graded else 1
    after = _days_ago(days)

    def bad(ca):
        cert = ca.issue(*SERVER_NAMES, not_before=after - datetime.timedelta(days=90), not_after=after,
                        label="expired")
        return _server_context_for(*_files(cert))
    return _refusal(student, ctx, bad=bad, kind="dates",
                    description=f"a certificate for localhost from the right CA that expired {plural(days, 'day')} ago")


@q1.condition("self-signed", "a self-signed certificate for localhost: refused")
def _(student, ctx):
    return _refusal(student, ctx, bad=lambda ca: _server_context_for(*_self_signed(ctx)), kind="trust",
                    description="a self-signed certificate for localhost (it vouches for itself)")


def _legacy_server(ctx, ca):
    """A server that speaks TLS 1.1 only, or None where this machine's OpenSSL cannot run one."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # TLSv1_1 is deprecated: that is the point
            context = ca.server_context()
            context.set_ciphers("DEFAULT:@SECLEVEL=0")
            context.minimum_version = context.maximum_version = ssl.TLSVersion.TLSv1_1
            probe = ssl.create_default_context(cafile=ca.ca_file)
            probe.set_ciphers("DEFAULT:@SECLEVEL=0")
            probe.minimum_version = ssl.TLSVersion.TLSv1_1
    except (ValueError, ssl.SSLError, AttributeError):
        return None
    server = _server(ctx, context)
    if _connect(ctx, probe, server.address).version != "TLSv1.1":
        return None
    return server


@q1.condition("old-tls", "a server that speaks only TLS 1.1: refused")
def _(student, ctx):
    ca = _authority(ctx)
    context, verdict = _client_context(student, ctx, ca)
    if verdict:
        return verdict
    legacy = _legacy_server(ctx, ca)
    sent = "a handshake with a server that offers TLS 1.1 and nothing newer"
    if legacy is not None:
        shake = _connect(ctx, context, legacy.address)
        if shake.completed:
            return failed(f"your context completed a handshake with {shake.version}", hint="tls-floor", sent=sent,
                          expected="a refused handshake (TLS 1.2 at least)", got=f"connected; {_settings(context)}")
    floor = context.minimum_version
    if floor == ssl.TLSVersion.MINIMUM_SUPPORTED or (floor != ssl.TLSVersion.MAXIMUM_SUPPORTED
                                                     and floor < ssl.TLSVersion.TLSv1_2):
        old_bits = ssl.OP_NO_TLSv1 | ssl.OP_NO_TLSv1_1
        if context.options & old_bits == old_bits:
            return failed(f"your context refuses TLS 1.0 and 1.1 with the deprecated option bits OP_NO_TLSv1 | "
                          f"OP_NO_TLSv1_1, while its minimum_version is {floor.name}; the question asks for "
                          f"minimum_version", hint="option-bits", sent=sent,
                          expected="minimum_version TLSv1_2 or TLSv1_3",
                          got=f"minimum_version={floor.name}; options include OP_NO_TLSv1 and OP_NO_TLSv1_1")
        if legacy is None:
            tried = "this machine's OpenSSL cannot run a TLS 1.1 server, so only the setting could be checked"
        else:
            tried = "here OpenSSL's own security level still said no to TLS 1.1"
        return failed(f"your context's minimum_version is {floor.name}: {tried}, and your context itself would "
                      f"accept TLS older than 1.2", hint="tls-floor",
                      sent=sent, expected="minimum_version TLSv1_2 or TLSv1_3", got=f"minimum_version={floor.name}")
    good = _connect(ctx, context, _server(ctx, ca.server_context()).address)
    if not good.completed:
        return _good_failed(context, good, what="a handshake with the course's good server",
                            lead="your context refused TLS 1.1, but it refuses the course's good server too")
    if legacy is None:
        return passed(f"minimum_version is {floor.name} (this machine's OpenSSL cannot run a TLS 1.1 server, "
                      f"so only the setting was checked)")
    return passed(f"refused; minimum_version is {floor.name}")


@q1.condition("cn-only", "a certificate that names localhost only in its subject, not in its SAN: refused",
              graded_only=True)
def _(student, ctx):
    name = ctx.rng.choice(OTHER_NAMES)
    return _refusal(student, ctx, kind="name",
                    bad=lambda ca: _server_context_for(*_files(ca.issue(name, common_name="localhost", label="cn"))),
                    description=f"a certificate whose subject says CN=localhost but whose subjectAltName "
                                f"says only {name}")


@q1.condition("not-yet-valid", "a certificate whose dates begin tomorrow: refused", graded_only=True)
def _(student, ctx):
    start = _days_ago(-ctx.rng.randint(1, 30))

    def bad(ca):
        cert = ca.issue(*SERVER_NAMES, not_before=start, not_after=start + datetime.timedelta(days=365),
                        label="future")
        return _server_context_for(*_files(cert))
    return _refusal(student, ctx, bad=bad, kind="dates",
                    description=f"a certificate for localhost from the right CA, valid only from {start:%Y-%m-%d}")


# ====================================================================================
q2 = Question(CHAPTER, "q2", answer="mtls_server_context", title="Mutual TLS: a server that checks its clients",
              section="6")

q2.hint("server-context",
        "A server's context is ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER) (or create_default_context(ssl.Purpose."
        "CLIENT_AUTH, ...)), and it must present its certificate: load_cert_chain(cert_file, key_file). "
        "create_default_context() without a purpose makes a client's context (chapter 05, section 2).")
q2.hint("client-ca",
        "To check a client's certificate the server must trust the CA that issued it: "
        "load_verify_locations(client_ca_file). Your own certificate is not a CA, and the CA of your "
        "certificate need not be the clients' (chapter 05, section 6 'Mutual TLS').")
q2.hint("require",
        "A server's context asks for no certificate unless told to: verify_mode is CERT_NONE by default, even "
        "with create_default_context(ssl.Purpose.CLIENT_AUTH). Set verify_mode = ssl.CERT_REQUIRED (chapter 05, "
        "section 6).")
q2.hint("optional",
        "CERT_OPTIONAL checks a certificate if the client sends one, and lets in a client that sends none. "
        "Mutual TLS needs ssl.CERT_REQUIRED (chapter 05, section 6).")
q2.hint("verify-flags",
        "Your server trusts the clients' CA, yet refuses the course's good client: a flag you added to "
        "verify_flags asks for more than the certificates offer. VERIFY_CRL_CHECK_LEAF and VERIFY_CRL_CHECK_CHAIN "
        "want a certificate revocation list (CRL) for each client certificate, and nobody gave you one. Leave "
        "verify_flags as they are (chapter 05, section 6).")
q2.hint("dates",
        "Your context checks who signed the client's certificate but not its dates: something in verify_flags "
        "turned the time check off (X509_V_FLAG_NO_CHECK_TIME). An expired certificate must be refused (chapter 05, "
        "section 4, code 10).")
q2.hint("write-identity",
        "The check calls your client_identity(tls_sock) too: write it next to mtls_server_context, in the answer "
        "cell below, and run that cell before the check.")
q2.hint("subject",
        "On the server, tls_sock.getpeercert() returns the client's certificate as a dict; 'subject' is a tuple "
        "of relative names, each a tuple of (field, value) pairs, in no fixed order. Look for the field "
        "'commonName' instead of taking the first one (chapter 05, section 6, the greet handler).")
q2.hint("no-cn",
        "A certificate need not have a commonName at all: today the names are in the subjectAltName list, a tuple "
        "of (type, value) pairs such as ('email', 'robot@...'). Without a commonName, return the value of its "
        "first entry (chapter 05, section 3 lists the fields).")
q2.hint("exact-name",
        "client_identity returns the name exactly as the certificate writes it, as a str: getpeercert() already "
        "gives you str values. No bytes, no (field, value) pair, no change of case: 'Mallory' and 'mallory' are "
        "two different names to an application that compares them (chapter 05, section 6).")
q2.hint("none",
        "getpeercert() returns None when the client sent no certificate (a server with CERT_OPTIONAL lets such "
        "a client in); client_identity must then return None instead of failing (chapter 05, section 6).")


def _mtls_context(student, ctx, ca):
    """Call mtls_server_context with the course's files: (the context, None) or (None, the verdict)."""
    cert = ca.server_cert
    outcome = ctx.call(student, cert.cert_file, cert.key_file, ca.ca_file)
    return _context_of(ctx, outcome, what="mtls_server_context(cert_file, key_file, client_ca_file) with the "
                       "course's files", side="server", hint="server-context", bad_hint="server-context")


def _door(ctx, context):
    """A server of the check's own with the student's context: it counts the clients it let in."""
    let_in = []

    def handler(conn):
        let_in.append(conn.getpeercert())
        _greet(conn)
    return _server(ctx, context, handler), let_in


def _client(ca, cert=None) -> ssl.SSLContext:
    """A client that trusts the course's server, presenting `cert` (None: no certificate)."""
    context = ca.client_context()
    if cert is not None:
        context.load_cert_chain(cert.cert_file, cert.key_file)
    return context


def _good_client_refused(ca, context, shake: Handshake, *, lead: str, sent: str):
    reason = shake.why()
    trusts_ca = _trusts(ca, context)
    if context.verify_mode == ssl.CERT_NONE:
        hint = "server-context"
    elif trusts_ca and _wants_crl(context):
        hint = "verify-flags"
    elif "UNKNOWN_CA" in reason.upper() or not trusts_ca:
        hint = "client-ca"
    else:
        hint = "server-context"
    return failed(f"{lead}: {reason or shake.kind}", hint=hint, sent=sent,
                  expected="the handshake completes and the server greets the client",
                  got=_settings_server(context, ca))


def _trusts(ca, context) -> bool:
    """Whether `context` holds the CA of client_ca_file among the CAs it checks clients with."""
    return _der(ca.cert_pem) in context.get_ca_certs(binary_form=True)


def _settings_server(context, ca) -> str:
    loaded = len(context.get_ca_certs())
    among = ("the CA of client_ca_file among them" if _trusts(ca, context)
             else "not the CA of client_ca_file")
    shown = f"verify_mode={context.verify_mode.name}, {plural(loaded, 'CA certificate')} loaded to check clients with"
    if loaded:
        shown += f" ({among})"
    if _wants_crl(context):
        shown += f", verify_flags={_flags(context)}"
    return shown


def _mtls_refusal(student, ctx, *, cert_of, description: str, kind: str):
    """The student's server must refuse the client `cert_of(ca)` makes, and still let the course's client in."""
    ca = _authority(ctx)
    context, verdict = _mtls_context(student, ctx, ca)
    if verdict:
        return verdict
    server, let_in = _door(ctx, context)
    shake = _connect(ctx, _client(ca, cert_of(ca)), server.address)
    sent = f"a client presenting {description}"
    if let_in or shake.reply == GREETING:
        mode = context.verify_mode
        hint = ("require" if mode == ssl.CERT_NONE else "optional" if kind == "none" and mode == ssl.CERT_OPTIONAL
                else "dates" if kind == "dates" else "client-ca" if kind == "trust" else "require")
        return failed(f"your server let in a client presenting {description}", hint=hint, sent=sent,
                      expected="the handshake fails and the server never greets it",
                      got=f"greeted; your context has {_settings_server(context, ca)}")
    good = _connect(ctx, _client(ca, ca.client_cert), server.address)
    if good.reply != GREETING:
        return _good_client_refused(ca, context, good, sent="a client presenting the course's client certificate",
                                    lead="your server refused it, but it refuses the course's own client too, so "
                                         "the refusal proves nothing")
    return passed(f"refused: {shake.why()}")


@q2.condition("accepts", "a client with a certificate from client_ca_file is let in")
def _(student, ctx):
    ca = _authority(ctx)
    context, verdict = _mtls_context(student, ctx, ca)
    if verdict:
        return verdict
    server, let_in = _door(ctx, context)
    shake = _connect(ctx, _client(ca, ca.client_cert), server.address)
    if shake.reply != GREETING:
        return _good_client_refused(ca, context, shake, sent="a client presenting the course's client certificate",
                                    lead="your server did not let the course's client in")
    return passed(f"let in with {shake.version}")


@q2.condition("no-cert", "a client without a certificate is refused")
def _(student, ctx):
    return _mtls_refusal(student, ctx, cert_of=lambda ca: None, kind="none", description="no certificate at all")


@q2.condition("other-ca", "a client with a certificate from another CA is refused")
def _(student, ctx):
    return _mtls_refusal(student, ctx, kind="trust", description="a certificate for 'student' from another CA",
                         cert_of=lambda ca: _authority(ctx, "another CA").client_cert)


@q2.condition("expired", "a client with an expired certificate from client_ca_file is refused")
def _(student, ctx):
    days = ctx.rng.randint(1, 400) if ctx.graded else 1
    after = _days_ago(days)
    return _mtls_refusal(student, ctx, kind="dates",
                         description=f"a certificate for 'student' from the right CA that expired "
                                     f"{plural(days, 'day')} ago",
                         cert_of=lambda ca: ca.issue("student@sockcourse.example", common_name="student",
                                                     not_before=after - datetime.timedelta(days=90), not_after=after,
                                                     label="expired"))


def _identity_function(student):
    """The client_identity defined beside the student's mtls_server_context, or None."""
    found = getattr(student, "__globals__", {}).get("client_identity")
    return found if callable(found) else None


def _identity_of(student, ctx, cert_of, *, optional: bool = False):
    """Run client_identity on the server side of a connection from a client presenting `cert_of(ca)`.

    The server is the check's own, with a correct context, so that only
    client_identity is judged here. Returns (box, the verdict if no call happened).
    """
    identity = _identity_function(student)
    if identity is None:
        return None, failed("there is no function client_identity next to your mtls_server_context",
                            hint="write-identity", expected="def client_identity(tls_sock): ...")
    ca = _authority(ctx)
    context = ca.server_context(require_client_cert=True)
    if optional:
        context.verify_mode = ssl.CERT_OPTIONAL
    box: dict = {}

    def handler(conn):
        try:
            box["value"] = identity(conn)
        except NotImplementedError:
            box["stub"] = True
        except Exception as exc:  # noqa: BLE001 - the student's error is the report's subject
            box["error"], box["where"] = exc, student_line(exc.__traceback__)
        _greet(conn)
    server = _server(ctx, context, handler)
    shake = _connect(ctx, _client(ca, cert_of(ca)), server.address)
    if shake.reply != GREETING and not box:
        return None, failed(f"client_identity did not return within {ctx.budget:.0f} s", hint="subject",
                            expected="the name, at once")
    if box.get("stub"):
        return None, failed("your client_identity still raises NotImplementedError", hint="write-identity",
                            expected="the client's name")
    return box, None


def _judge_identity(box, want, *, sent: str, hint: str):
    if "error" in box:
        return failed(f"your client_identity raised {describe(box['error'])}", hint=hint, sent=sent,
                      expected=repr(want), where=box.get("where") or None)
    value = box.get("value")
    if value == want:
        return passed()
    got = text(repr(value))
    if value is not None and not isinstance(value, str):
        return failed(f"client_identity returned {type(value).__name__}, not a str", hint="exact-name", sent=sent,
                      expected=repr(want), got=f"{got} (of type {type(value).__name__})")
    if isinstance(value, str) and isinstance(want, str) and value.casefold() == want.casefold():
        return failed("client_identity changed the case of the certificate's name", hint="exact-name", sent=sent,
                      expected=repr(want), got=got)
    return failed("client_identity returned another name than the certificate's", hint=hint, sent=sent,
                  expected=repr(want), got=got)


@q2.condition("identity", "client_identity names the course's client ('student')")
def _(student, ctx):
    box, verdict = _identity_of(student, ctx, lambda ca: ca.client_cert)
    return verdict or _judge_identity(box, "student", hint="subject",
                                      sent="a client certificate with subject O=sockcourse, OU=client, CN=student")


#: Each has a capital letter, so that an answer that changes the case cannot pass by luck.
CLIENT_NAMES = ["Mallory", "Printer-7", "backup.Service", "Eve", "ADA", "build-Robot"]


@q2.condition("stranger-name", "client_identity reports a name the server does not expect, exactly",
              graded_only=True)
def _(student, ctx):
    name = ctx.rng.choice(CLIENT_NAMES)
    box, verdict = _identity_of(student, ctx, lambda ca: ca.issue(f"{name}@sockcourse.example", common_name=name,
                                                                  label="stranger"))
    return verdict or _judge_identity(box, name, hint="subject", sent=f"a client certificate with CN={name}")


@q2.condition("san-only", "a client certificate without a commonName: its first subjectAltName", graded_only=True)
def _(student, ctx):
    email = f"{ctx.rng.choice(CLIENT_NAMES)}@sockcourse.example"
    box, verdict = _identity_of(student, ctx, lambda ca: ca.issue(email, "second@sockcourse.example", label="san"))
    return verdict or _judge_identity(box, email, hint="no-cn",
                                      sent=f"a client certificate with no commonName; subjectAltName email {email}")


@q2.condition("anonymous", "no client certificate on a CERT_OPTIONAL server: None", graded_only=True)
def _(student, ctx):
    box, verdict = _identity_of(student, ctx, lambda ca: None, optional=True)
    return verdict or _judge_identity(box, None, hint="none",
                                      sent="a client without a certificate, on a server with CERT_OPTIONAL")


# ====================================================================================
q3 = Question(CHAPTER, "q3", answer="fetch", title="Refuse a truncated reply", section="6")

q3.hint("context",
        "Make the client's context with ssl.create_default_context(cafile=cafile) and wrap the connected socket "
        "with server_hostname='localhost', the name in the server's certificate. Wrap it before you send anything: "
        "the request goes through the TLS socket that wrap_socket returns, never through the plain one, which "
        "the server would take for a broken handshake (chapter 05, section 2).")
q3.hint("shape",
        "Return the reply as bytes, exactly as the server sent it: no decoding, no stripping.")
q3.hint("read-to-end",
        "One recv() on a TLS socket returns at most one record (16 KiB) of what has arrived. Keep reading until "
        "recv() returns b'', which an SSLSocket does only after the server's close_notify (chapter 01, section 5, "
        "and chapter 05, section 2).")
q3.hint("verify",
        "fetch must refuse a server it cannot verify before it sends a byte: keep verify_mode = CERT_REQUIRED "
        "and check_hostname (chapter 05, section 5 'Never turn the checks off').")
q3.hint("hostname",
        "fetch must check the name as well as the CA: a certificate from the right CA made out to another name "
        "belongs to someone else. Keep check_hostname = True (the default of create_default_context) and pass "
        "server_hostname='localhost' to wrap_socket (code 62 'Hostname mismatch' in chapter 05, section 4).")
q3.hint("close",
        "Close the TLS socket before fetch returns: `with context.wrap_socket(raw, ...) as sock:` does it, also "
        "when an error propagates. Here Python closed it for you once nothing referred to it any more, which is "
        "luck, not a promise: a socket kept in a traceback or a list stays open, and so does the connection "
        "(chapter 01, section 3 'Death').")
q3.hint("ragged-eof",
        "A TLS peer ends its data with a close_notify alert (RFC 8446, section 6.1); a plain TCP close without it "
        "may be an attacker cutting the reply short (a truncation attack). wrap_socket(..., "
        "suppress_ragged_eofs=False) makes recv() raise ssl.SSLEOFError then, instead of returning b'' as if all "
        "were well; let it propagate.")
q3.hint("reset",
        "A reset in the middle of the reply is no end either. With suppress_ragged_eofs=True (the default) Python "
        "may report it as a quiet b''; with False it raises (ssl.SSLEOFError or ConnectionResetError): let that "
        "propagate instead of returning what has arrived (chapter 01, section 6).")
q3.hint("pause",
        "A pause is not the end of the reply: only the server's close_notify is. Do not treat a timeout as the end; "
        "a generous timeout is fine, but when it fires, raise (chapter 05, section 2).")

#: The words the check's replies are made of, so that a report shows readable text.
_WORDS = [b"alpha", b"bravo", b"charlie", b"delta", b"echo", b"foxtrot", b"golf", b"hotel"]


def _reply(rng, size: int) -> bytes:
    lines, total, number = [], 0, 0
    while total < size:
        line = b"%06d " % number + b" ".join(rng.choice(_WORDS) for _ in range(8)) + b"\n"
        lines.append(line)
        total += len(line)
        number += 1
    return b"".join(lines)[:size]


def _close_notify(conn) -> None:
    """Send close_notify (unwrap), waiting a moment for the client's; the end a TLS server should make."""
    conn.settimeout(1.0)
    try:
        conn.unwrap()
    except (OSError, ValueError):
        pass  # the client closed without its own close_notify: common, and not what this check judges


def _reply_server(ctx, tls_context, script):
    """The check's server: read one request line, then run `script(conn)`; notes what it received."""
    seen = {"requests": []}

    def handler(conn):
        request = b""
        try:
            while not request.endswith(b"\n") and len(request) < 4096:
                piece = conn.recv(4096)
                if not piece:
                    return
                request += piece
            seen["requests"].append(request)
            script(conn)
        except (OSError, ValueError):
            pass  # the client left or reset: the verdict is made from what the client got
    return _server(ctx, tls_context, handler), seen


def _request(rng) -> bytes:
    return b"GET /" + rng.choice([b"report", b"letter", b"balance", b"news"]) + b" %d\n" % rng.randint(1, 9999)


def _fetch(student, ctx, address, ca, request):
    what = f"fetch(address, cafile, {text(request)})"
    return ctx.call(student, address, ca.ca_file, request), what


def _judge_whole(outcome, want: bytes, seen, *, what: str, prefix_hint: str = "read-to-end"):
    """The verdict for a reply that ended properly with close_notify: exactly `want` must come back."""
    expected = f"{plural(len(want), 'byte')}: {text(want)}"
    if not outcome.returned and not _wait(lambda: seen["requests"], 0.3):
        # Nothing reached the server as a request: the trouble is in connecting, not in reading.
        did = f"raised {describe(outcome.error)}" if outcome.raised else outcome.text()
        return failed(f"your request never reached the server: your function {did}", hint="context",
                      sent=what, expected=expected, where=outcome.where or None)
    if outcome.kind in ("blocked", "still-running"):
        return failed(f"your function {outcome.text()}, after the server's close_notify", hint=prefix_hint,
                      sent=what, expected=expected)
    if outcome.raised:
        hint = "context" if isinstance(outcome.error, (ssl.SSLError, ValueError)) else prefix_hint
        return failed(f"your function raised {describe(outcome.error)}", hint=hint, sent=what, expected=expected,
                      where=outcome.where or None)
    got = outcome.value
    if not isinstance(got, (bytes, bytearray)):
        return failed(f"your function returned {type(got).__name__}, not bytes", hint="shape", sent=what,
                      expected=expected, got=_shown(got))
    got = bytes(got)
    if got == want:
        return passed(plural(len(want), "byte"))
    if want.startswith(got):
        return failed(f"your function returned the first {len(got):,} of {plural(len(want), 'byte')}",
                      hint=prefix_hint, sent=what, expected=expected, got=f"{plural(len(got), 'byte')}: {text(got)}")
    return failed("your function returned bytes the server did not send", hint="shape", sent=what,
                  expected=expected, got=f"{plural(len(got), 'byte')}: {text(got)}")


def _judge_cut(outcome, seen, sent_part: bytes, *, what: str, hint: str, how: str):
    """The verdict for a reply cut short: fetch must raise (an OSError), never return the part as if whole."""
    if not _wait(lambda: seen["requests"], 0.3):
        detail = outcome.text()
        return failed(f"your request never reached the server (your function {detail})", hint="context", sent=what,
                      expected="the request, then an error when the reply is cut short",
                      where=outcome.where or None)
    if outcome.kind in ("blocked", "still-running"):
        return failed(f"your function {outcome.text()}, after {how}", hint=hint, sent=what,
                      expected="an exception (ssl.SSLEOFError, ConnectionResetError, ...)")
    if outcome.returned:
        got = outcome.value
        size = plural(len(got), "byte") if isinstance(got, (bytes, bytearray)) else _shown(got)
        return failed(f"your function returned {size} as if the reply were complete, after {how}",
                      hint=hint, sent=what, expected="an exception (ssl.SSLEOFError, ConnectionResetError, ...)",
                      got=f"{_shown(got)}, of the {plural(len(sent_part), 'byte')} the server sent before the end")
    if not isinstance(outcome.error, OSError):
        return failed(f"your function raised {describe(outcome.error)}, which is not a connection error",
                      hint=hint, sent=what, expected="an OSError: ssl.SSLEOFError, ConnectionResetError, ...",
                      where=outcome.where or None)
    return passed(f"raised {type(outcome.error).__name__}")


@q3.condition("clean", "a short reply that ends with close_notify")
def _(student, ctx):
    ca = _authority(ctx)
    want = _reply(ctx.rng, ctx.rng.randint(20, 300) if ctx.graded else 120)

    def script(conn):
        conn.sendall(want)
        _close_notify(conn)
    server, seen = _reply_server(ctx, ca.server_context(), script)
    outcome, what = _fetch(student, ctx, server.address, ca, _request(ctx.rng))
    return _judge_whole(outcome, want, seen, what=what)


@q3.condition("long", "a long reply (hundreds of kB) in many records, then close_notify")
def _(student, ctx):
    ca = _authority(ctx)
    want = _reply(ctx.rng, ctx.rng.randint(200_000, 600_000) if ctx.graded else 300_000)

    def script(conn):
        for start in range(0, len(want), 5000):
            conn.sendall(want[start:start + 5000])
        _close_notify(conn)
    server, seen = _reply_server(ctx, ca.server_context(), script)
    outcome, what = _fetch(student, ctx, server.address, ca, _request(ctx.rng))
    return _judge_whole(outcome, want, seen, what=f"{what}; the reply is {len(want):,} bytes")


def _unverified(student, ctx, ca, server_context, *, description: str, hint: str):
    """fetch must refuse, in the handshake, a server presenting what `server_context` holds, and send nothing."""
    want = _reply(ctx.rng, 80)

    def script(conn):
        conn.sendall(want)
        _close_notify(conn)
    server, seen = _reply_server(ctx, server_context, script)
    outcome, what = _fetch(student, ctx, server.address, ca, _request(ctx.rng))
    what = f"{what}, to a server presenting {description}"
    if outcome.returned or _wait(lambda: seen["requests"], 0.2 if outcome.raised else 0.0):
        return failed("your function sent its request to a server it should have refused"
                      + (f" and returned {_shown(outcome.value)}" if outcome.returned else ""), hint=hint, sent=what,
                      expected="ssl.SSLCertVerificationError in the handshake, before the request",
                      got=f"the server received {text(seen['requests'][0])}" if seen["requests"] else None)
    if outcome.kind in ("blocked", "still-running"):
        return failed(f"your function {outcome.text()}", hint=hint, sent=what,
                      expected="ssl.SSLCertVerificationError in the handshake")
    if not isinstance(outcome.error, ssl.SSLError):
        return failed(f"your function raised {describe(outcome.error)}, not the handshake's certificate error",
                      hint="context", sent=what, expected="ssl.SSLCertVerificationError",
                      where=outcome.where or None)
    return passed(f"raised {type(outcome.error).__name__}")


@q3.condition("untrusted", "a server whose certificate comes from a stranger's CA: refused, nothing sent")
def _(student, ctx):
    stranger = _authority(ctx, "a stranger's CA")
    return _unverified(student, ctx, _authority(ctx), stranger.server_context(), hint="verify",
                       description="a certificate for localhost from a CA that is not in cafile")


@q3.condition("wrong-name", "a certificate from the right CA for another name: refused, nothing sent")
def _(student, ctx):
    ca = _authority(ctx)
    name = ctx.rng.choice(OTHER_NAMES) if ctx.graded else "other.example"
    return _unverified(student, ctx, ca, _server_context_for(*_files(ca.issue(name, label="other-name"))),
                       hint="hostname", description=f"a certificate from the CA in cafile, but for {name}")


@q3.condition("closes", "fetch closes its socket before it returns")
def _(student, ctx):
    ca = _authority(ctx)
    want = _reply(ctx.rng, ctx.rng.randint(20, 300) if ctx.graded else 120)

    def script(conn):
        conn.sendall(want)
        _close_notify(conn)
    server, seen = _reply_server(ctx, ca.server_context(), script)
    # A socket dropped unclosed warns (ResourceWarning) as Python closes it: when fetch returns, or,
    # kept alive by a reference cycle, at the next collection, hence the gc.collect(). Only a socket
    # connected to this condition's server counts: a collection may also finalize older garbage.
    peer = f"raddr={tuple(server.address[:2])!r}"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        outcome, what = _fetch(student, ctx, server.address, ca, _request(ctx.rng))
        gc.collect(1)
    dropped = [w for w in caught if issubclass(w.category, ResourceWarning) and peer in str(w.message)]
    for other in caught:  # anything else goes on to core's record, which notes it as usual
        if other not in dropped:
            warnings.warn_explicit(other.message, other.category, other.filename, other.lineno)
    if not outcome.returned:  # what it raised holds its frames, and so its sockets: nothing to judge by
        return _judge_whole(outcome, want, seen, what=what)
    if dropped:
        them = "it" if len(dropped) == 1 else "them"
        return failed(f"your function returned, but never closed its socket: Python found "
                      f"{plural(len(dropped), 'socket')} unreferenced and closed {them} for you",
                      hint="close", sent=what,
                      expected="the TLS socket closed before fetch returns",
                      got=f"ResourceWarning: {' '.join(str(dropped[0].message).split()[:2])} ...>")
    return passed("closed")


@q3.condition("truncated", "part of the reply, then a plain TCP close without close_notify: raises")
def _(student, ctx):
    ca = _authority(ctx)
    part = _reply(ctx.rng, ctx.rng.randint(100, 20_000) if ctx.graded else 2_000)

    def script(conn):
        conn.sendall(part)  # and return: the server closes TCP without close_notify
    server, seen = _reply_server(ctx, ca.server_context(), script)
    outcome, what = _fetch(student, ctx, server.address, ca, _request(ctx.rng))
    return _judge_cut(outcome, seen, part, hint="ragged-eof", how="a TCP close without close_notify",
                      what=f"{what}; the server sends {len(part):,} bytes, then closes TCP without close_notify")


@q3.condition("reset", "a reset in the middle of the reply (link reset_after): raises")
def _(student, ctx):
    # Python 3.10 and 3.11 report this reset on an SSLSocket as ssl.SSLEOFError, as if it were a close
    # without close_notify (SSL_read_ex returns 0, CPython gh-115627); the Pythons with that fix raise
    # ConnectionResetError. So an answer that swallows only ConnectionResetError passes here on 3.11:
    # on this Python it does not change what fetch does.
    ca = _authority(ctx)
    first = _reply(ctx.rng, ctx.rng.randint(1_000, 30_000) if ctx.graded else 8_000)
    rest = _reply(ctx.rng, 60_000)
    more = ctx.rng.randint(100, 20_000) if ctx.graded else 5_000
    box: dict = {}

    def script(conn):
        conn.sendall(first)
        relay = box["link"]
        # The link counts every byte it forwards towards the client (reset_after is set, so it is
        # counting); once `first` has gone through, reset `more` bytes later, inside `rest`.
        forwarded, deadline = -1, time.monotonic() + 1.0
        while time.monotonic() < deadline:
            time.sleep(0.03)
            now = sum(row["nbytes"] for row in relay.rows()
                      if row["direction"] == "to_client" and row["action"] == "delivered")
            if now == forwarded and now >= len(first):
                break  # nothing moved for 30 ms: all of `first` has gone through
            forwarded = now
        box["reset_at"] = forwarded + more
        relay.set("to_client", reset_after=forwarded + more)
        conn.sendall(rest)
        _close_notify(conn)
    server, seen = _reply_server(ctx, ca.server_context(), script)
    box["link"] = relay = ctx.link(server, reset_after=1 << 40)
    outcome, what = _fetch(student, ctx, relay.address, ca, _request(ctx.rng))
    resets = relay.count("reset", "to_client") if relay.running else 0
    verdict = _judge_cut(outcome, seen, first, hint="reset", how="a reset (RST) in the middle of the reply",
                         what=f"{what}; the server sends {len(first) + len(rest):,} bytes, and the link resets the "
                              f"connection {more:,} bytes after the first {len(first):,}")
    if verdict.passed and not resets:
        ctx.note("the link's record shows no reset, so this run tested less than it should")
    return verdict


@q3.condition("pause", "the server pauses 0.6 s in the middle of its reply", graded_only=True)
def _(student, ctx):
    ca = _authority(ctx)
    want = _reply(ctx.rng, ctx.rng.randint(500, 5_000))
    cut = ctx.rng.randint(100, len(want) - 100)

    def script(conn):
        conn.sendall(want[:cut])
        time.sleep(0.6)
        conn.sendall(want[cut:])
        _close_notify(conn)
    server, seen = _reply_server(ctx, ca.server_context(), script)
    outcome, what = _fetch(student, ctx, server.address, ca, _request(ctx.rng))
    return _judge_whole(outcome, want, seen, what=f"{what}; the server pauses 0.6 s after {cut:,} bytes",
                        prefix_hint="pause")


@q3.condition("nothing", "a plain TCP close right after the handshake, no reply at all: raises", graded_only=True)
def _(student, ctx):
    ca = _authority(ctx)
    server, seen = _reply_server(ctx, ca.server_context(), lambda conn: None)
    outcome, what = _fetch(student, ctx, server.address, ca, _request(ctx.rng))
    return _judge_cut(outcome, seen, b"", hint="ragged-eof", how="a TCP close without close_notify",
                      what=f"{what}; the server reads it and closes TCP at once, without close_notify")


# ====================================================================================
q4 = Question(CHAPTER, "q4", answer="connect_pinned", title="Pin the server's certificate", section="4")

q4.hint("context",
        "Pinning comes on top of the usual checks: make the context with ssl.create_default_context(cafile=cafile) "
        "and wrap with server_hostname='localhost'; the handshake must succeed before you compare anything "
        "(chapter 05, section 2).")
q4.hint("der-hash",
        "The fingerprint is the SHA-256 of the certificate's DER bytes, as the server sent them: "
        "hashlib.sha256(tls_sock.getpeercert(binary_form=True)).hexdigest(). getpeercert() without binary_form "
        "is Python's summary of the certificate, not its bytes (chapter 05, section 3).")
q4.hint("shape",
        "Return the connected ssl.SSLSocket itself, still open: the one wrap_socket returned, not the plain "
        "socket underneath (that one is detached once wrapped).")
q4.hint("raise",
        "When the fingerprint differs, the certificate is not the one you pinned: close the connection and raise "
        "(ssl.SSLCertVerificationError('...') is a good choice), instead of warning and returning.")
q4.hint("error-type",
        "Raise an ssl.SSLError (ssl.SSLCertVerificationError, say) or a ConnectionError, so that a caller "
        "handles a wrong pin like any other certificate it must not trust.")
q4.hint("close-refused",
        "Close the TLS socket before you raise: the server is still connected otherwise. wrap_socket() takes over "
        "the plain socket, so closing that one (or leaving its `with` block) does not close the TLS one.")
q4.hint("pin-plus-ca",
        "A pin adds a check; it does not replace the CA and the host name. With verify_mode = CERT_NONE anyone "
        "can show a certificate whose fingerprint an attacker chose to give you (chapter 05, section 5).")
q4.hint("hostname",
        "Keep check_hostname on when you pin: the pin says which certificate, the host name check says it is for "
        "the server you asked for (chapter 05, section 4, code 62).")
q4.hint("same-connection",
        "Compare the fingerprint of the connection you return, after its own handshake: "
        "sock.getpeercert(binary_form=True) on that very socket. What another connection showed (a first look, "
        "ssl.get_server_certificate) says nothing about this one: the server, or someone on the path, can show a "
        "different certificate each time.")
q4.hint("pin-format",
        "Fingerprints are often written in upper case with colons between the bytes, as `openssl x509 "
        "-fingerprint -sha256` prints them: remove the colons and compare without regard to case.")


def _pinned_server(ctx, cert_file: str, key_file: str, *, later=None):
    """An echo server of the check's own, TLS 1.2 so that its handshake ends before the client's does.

    In TLS 1.3 the client finishes first and the server's tickets may still be
    in flight; with 1.2 the server has let the client in by the time the
    client can compare fingerprints, so the server sees the client's close.

    later: (cert file, key file) it presents instead to every connection after
    the first, switched in the handshake's server-name callback (which OpenSSL
    calls whether or not the client sent a name).
    """
    state = {"connections": 0, "ended": threading.Event(), "received": b"", "hellos": 0}
    context = _server_context_for(cert_file, key_file, tls12=True)
    if later is not None:
        other = _server_context_for(*later[:2], tls12=True)

        def switch(ssl_object, _name, _context):
            state["hellos"] += 1
            if state["hellos"] > 1:
                ssl_object.context = other
        context.sni_callback = switch

    def handler(conn):
        state["connections"] += 1
        conn.settimeout(ctx.budget)
        try:
            while len(state["received"]) < 4096:
                data = conn.recv(4096)
                if not data:
                    break
                state["received"] += data
                conn.sendall(data)
        except (OSError, ValueError):
            pass  # a close without close_notify, or a reset: both end the connection
        finally:
            state["ended"].set()
    server = _server(ctx, context, handler)
    return server, state


def _colon_form(pin: str) -> str:
    return ":".join(pin[i:i + 2] for i in range(0, len(pin), 2)).upper()


def _connect_pinned(student, ctx, address, ca, pin: str):
    outcome = ctx.call(student, address, ca.ca_file, pin)
    if outcome.returned and isinstance(outcome.value, socket.socket):
        ctx.own(outcome.value)
    return outcome


def _wait(predicate, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.01)
    return predicate()


def _judge_connected(ctx, outcome, state, *, what: str, mismatch_hint: str = "der-hash"):
    """The verdict for a pin that matches: an open, working TLS socket must come back."""
    if outcome.kind in ("blocked", "still-running"):
        return failed(f"your function {outcome.text()}", hint="context", sent=what, expected="a connected SSLSocket")
    if outcome.raised:
        error = outcome.error
        # Past the handshake (the server let the client in), the student's own comparison refused it.
        hint = mismatch_hint if _wait(lambda: state["connections"], 0.5) else "context"
        return failed(f"your function raised {describe(error)} for the pinned certificate itself", hint=hint,
                      sent=what, expected="a connected SSLSocket", where=outcome.where or None)
    sock = outcome.value
    if not isinstance(sock, ssl.SSLSocket):
        return failed(f"your function returned {_returned(sock)} (of type {type(sock).__name__}), not an "
                      f"ssl.SSLSocket",
                      hint="shape", sent=what, expected="the ssl.SSLSocket that wrap_socket returned")
    line = b"ping %d\n" % ctx.rng.randint(1, 9999)
    try:
        sock.settimeout(ctx.budget)
        sock.sendall(line)
        echoed = sock.recv(1024)
    except (OSError, ValueError) as exc:
        return failed(f"the socket you returned could not be used: {describe(exc)}", hint="shape", sent=what,
                      expected=f"{text(line)} echoed through it")
    if echoed != line:
        return failed("the socket you returned did not carry the echo", hint="shape", sent=what,
                      expected=text(line), got=text(echoed))
    return passed(f"connected with {sock.version()}")


def _returned(value) -> str:
    """What connect_pinned returned, for a report: a socket by what it is connected to, not by its repr."""
    if isinstance(value, ssl.SSLSocket):
        try:
            return (f"an open ssl.SSLSocket ({value.version()}) to a server whose certificate has the fingerprint "
                    f"{hashlib.sha256(value.getpeercert(binary_form=True)).hexdigest()[:16]}...")
        except (OSError, ValueError, TypeError):
            return "a closed ssl.SSLSocket"
    if isinstance(value, socket.socket):
        return f"a plain {type(value).__name__}"
    return _shown(value)


def _judge_refused(ctx, outcome, state, *, what: str, in_handshake_hint: str | None, closing: bool = False,
                   accepted: str = "a certificate that is not the pinned one"):
    """The verdict for a certificate that must not be accepted (`accepted` says why not, for the report)."""
    expected = "ssl.SSLError (or ConnectionError) raised, and the connection closed"
    if outcome.kind in ("blocked", "still-running"):
        return failed(f"your function {outcome.text()}", hint="raise", sent=what, expected=expected)
    if outcome.returned:
        value = outcome.value
        it = "a connection" if isinstance(value, ssl.SSLSocket) else _returned(value)
        return failed(f"your function returned {it} for {accepted}", hint=in_handshake_hint or "raise", sent=what,
                      expected=expected, got=_returned(value))
    error = outcome.error
    if not isinstance(error, (ssl.SSLError, ConnectionError)):
        return failed(f"your function raised {describe(error)}", hint="error-type", sent=what, expected=expected,
                      where=outcome.where or None)
    if in_handshake_hint is None and not _wait(lambda: state["connections"], 0.5):
        # Refused in the handshake: a context that refuses everything refuses this too.
        return failed(f"your function raised {describe(error)} in the handshake, before it could compare "
                      f"fingerprints: the certificate is valid", hint="context", sent=what,
                      expected="a completed handshake, then the pin compared and refused")
    if closing:
        if not state["connections"]:
            return passed("refused in the handshake; nothing to close")
        if not _wait(state["ended"].is_set, 1.0):
            return failed("your function raised, but left the connection open: the server was still connected "
                          "1 s later", hint="close-refused", sent=what, expected="the TLS socket closed before "
                          "raising", where=outcome.where or None)
    return passed(f"raised {type(error).__name__}")


def _pin_case(student, ctx, *, present, pin_of, refuse: bool, description: str, in_handshake_hint=None,
              closing=False, colons=False, accepted="a certificate that is not the pinned one"):
    ca = _authority(ctx)
    presented = present(ca)
    server, state = _pinned_server(ctx, *presented[:2])
    pin = pin_of(ca, presented)
    pin = _colon_form(pin) if colons else pin
    outcome = _connect_pinned(student, ctx, server.address, ca, pin)
    what = f"connect_pinned(address, cafile, {pin[:23]!r}...) to a server presenting {description}"
    if not refuse:
        return _judge_connected(ctx, outcome, state, what=what,
                                mismatch_hint="pin-format" if colons else "der-hash")
    verdict = _judge_refused(ctx, outcome, state, what=what, in_handshake_hint=in_handshake_hint, closing=closing,
                             accepted=accepted)
    if verdict.passed and in_handshake_hint:
        # Refused in the handshake, as it should be; but a function that refuses everything would too.
        server, state = _pinned_server(ctx, *_course(ca)[:2])
        again = _connect_pinned(student, ctx, server.address, ca, _fingerprint(ca.server_cert.pem))
        if not again.returned:  # what it returns is judged by right-pin; here only whether it refuses
            check = _judge_connected(ctx, again, state, what="connect_pinned() to the course's server, with its "
                                                             "own pin")
            return failed("your function refused it, but it refuses the course's server with the right pin too, "
                          "so the refusal proves nothing", hint=check.hint, **check.evidence)
    return verdict


def _course(ca):
    cert = ca.server_cert
    return cert.cert_file, cert.key_file, cert.pem


def _impostor(ca):
    cert = ca.issue(*SERVER_NAMES, label="impostor")
    return cert.cert_file, cert.key_file, cert.pem


@q4.condition("right-pin", "the pinned certificate: connects, and the socket works")
def _(student, ctx):
    return _pin_case(student, ctx, present=_course, pin_of=lambda ca, p: _fingerprint(p[2]), refuse=False,
                     description="the pinned certificate")


@q4.condition("other-cert", "another valid certificate from the same CA: refused")
def _(student, ctx):
    return _pin_case(student, ctx, present=_impostor, pin_of=lambda ca, p: _fingerprint(ca.server_cert.pem),
                     refuse=True, description="another valid certificate for localhost from the same CA")


@q4.condition("closes", "the refused connection is closed before raising")
def _(student, ctx):
    return _pin_case(student, ctx, present=_impostor, pin_of=lambda ca, p: _fingerprint(ca.server_cert.pem),
                     refuse=True, closing=True, description="another valid certificate from the same CA")


@q4.condition("stranger-pinned", "a stranger's certificate, pinned: still refused (the CA check stays)")
def _(student, ctx):
    def present(ca):
        return _course(_authority(ctx, "a stranger's CA"))
    return _pin_case(student, ctx, present=present, pin_of=lambda ca, p: _fingerprint(p[2]), refuse=True,
                     in_handshake_hint="pin-plus-ca",
                     description="a certificate from a CA not in cafile, whose fingerprint is the pin",
                     accepted="the pinned certificate although it comes from a CA that is not in cafile")


@q4.condition("same-connection", "a server that shows the pinned certificate once, then another: the pin holds "
                                 "for the connection returned")
def _(student, ctx):
    ca = _authority(ctx)
    impostor = _impostor(ca)
    pin = _fingerprint(ca.server_cert.pem)
    server, state = _pinned_server(ctx, *_course(ca)[:2], later=impostor)
    outcome = _connect_pinned(student, ctx, server.address, ca, pin)
    what = (f"connect_pinned(address, cafile, {pin[:23]!r}...) to a server that presents the pinned certificate "
            f"to the first connection and another valid one from the same CA to every later connection")
    connections = state["hellos"]
    if outcome.returned and isinstance(outcome.value, ssl.SSLSocket):
        try:
            found = hashlib.sha256(outcome.value.getpeercert(binary_form=True)).hexdigest()
        except (OSError, ValueError, TypeError):
            found = None
        if found is not None and found != pin:
            return failed(f"your function returned a connection whose certificate is not the pinned one: it made "
                          f"{plural(connections, 'connection')} and compared the pin on another than the one it "
                          f"returned", hint="same-connection", sent=what,
                          expected="the pin compared on the very connection returned", got=_returned(outcome.value))
    if outcome.raised and connections > 1 and isinstance(outcome.error, (ssl.SSLError, ConnectionError)):
        # It connected again and refused what the second connection showed: right, if roundabout.
        return passed(f"raised {type(outcome.error).__name__} for connection {connections}, which showed another "
                      f"certificate")
    return _judge_connected(ctx, outcome, state, what=what)


@q4.condition("colon-pin", "the pin written as 'AB:CD:...' (openssl's form): connects", graded_only=True)
def _(student, ctx):
    return _pin_case(student, ctx, present=_course, pin_of=lambda ca, p: _fingerprint(p[2]), refuse=False,
                     colons=True, description="the pinned certificate; the pin in upper case with colons")


@q4.condition("wrong-name-pinned", "a certificate for another name, pinned: still refused", graded_only=True)
def _(student, ctx):
    name = ctx.rng.choice(OTHER_NAMES)

    def present(ca):
        cert = ca.issue(name, label="other-name")
        return cert.cert_file, cert.key_file, cert.pem
    return _pin_case(student, ctx, present=present, pin_of=lambda ca, p: _fingerprint(p[2]), refuse=True,
                     in_handshake_hint="hostname",
                     description=f"a certificate from the right CA for {name}, whose fingerprint is the pin",
                     accepted=f"the pinned certificate although it is made out to {name}, not localhost")


QUESTIONS = [q1, q2, q3, q4]


def summary(namespace: dict):
    """The last cell of the homework: every question checked again, one line each."""
    return _summary(QUESTIONS, namespace)
