"""Chapter 05's certificate picker: pick a certificate, watch Python and OpenSSL each try the handshake.

`cert_picker()` returns an ipywidgets box with four certificates to choose
from: the course's good one, and three that each break one rule (issued by
a CA the client does not trust, for another name, expired). A pick starts a
TLS echo server on loopback that presents that certificate, and two clients
try it, both trusting the course's CA and asking for 'localhost':

- Python's `ssl` module (`ca.client_context()`), whose refusal is an
  `ssl.SSLCertVerificationError` with a `verify_code`, a `verify_message`
  and a `reason`;
- the real `openssl s_client` (`sockcourse.tls.openssl_s_client`), whose
  refusal is its "verify error" line, its "Verify return code" and exit code 1.

Their words sit side by side, with one sentence on what the code means.
Both speak OpenSSL's certificate check underneath (Python's ssl module is
built on it), which is why the codes agree; the numbers are listed in
X509_STORE_CTX_get_error(3), https://docs.openssl.org/3.0/man3/X509_STORE_CTX_get_error/.

`try_certificate(case, ca, stranger)` does one pick without any widget and
returns a `Verdict` (plain data). Each try is bounded (a timeout on every
wait) and stops its server before it returns. Without CAs given, each try
makes a fresh pair of its own and closes them when it ends, so the picker
holds nothing between picks (and works after a notebook closed its CAs).
"""

from __future__ import annotations

import html
import re
import socket
import ssl
import time
from dataclasses import dataclass

import ipywidgets as widgets

from ..core.checks import check_seconds
from ..core.errors import ArgumentError, ArgumentTypeError, SockcourseError
from ..servers import handlers
from ..servers.threaded import serve
from ..tls import SERVER_NAMES, CertificateAuthority, openssl_s_client
from .fallback import FallbackBox
from .problems import WARN, Failed, shown_problems

#: Seconds each client may take for its whole try (connect, handshake, echo).
TIMEOUT = 5.0

#: The name both clients ask for.
HOSTNAME = "localhost"

#: The picker's certificates: press() name -> what the menu says.
CASES = {
    "good": "the course's server certificate",
    "unknown CA": "issued by a stranger's CA",
    "wrong name": "for the name other.example",
    "expired": "expired yesterday",
}

#: What an X509 verify code means, in one sentence (codes from OpenSSL's include/openssl/x509_vfy.h).
MEANINGS = {
    0: "Nothing was wrong: the certificate chains up to a CA the client trusts, is for the name asked for, and "
       "is within its dates, so the handshake finished and the line came back.",
    9: "The certificate is not valid yet: its start date lies in the future (or this machine's clock is wrong).",
    10: "The certificate's validity has ended: its owner had to renew it, and an old, perhaps stolen key stops "
        "being good for anything on that date.",
    18: "The certificate signed itself, and the client does not trust it: anyone can sign their own.",
    19: "The chain ends in a self-signed CA that the client does not trust.",
    20: "The certificate was signed by a CA the client does not trust; anyone can make a CA, so a signature "
        "from an unknown one proves nothing about who the server is.",
    62: "The certificate is genuine, but for another name: a valid certificate for someone else's site does "
        "not let its owner pose as the site the client asked for.",
}

_GOOD = "#009E73"   # Okabe-Ito bluish green


def meaning(code: int | None) -> str:
    """One sentence on what an X509 verify code means."""
    if code is None:
        return "No certificate check was reported: the handshake failed before it, or the client could not run."
    return MEANINGS.get(code, f"OpenSSL's verify code {code}; X509_STORE_CTX_get_error(3) lists them all.")


@dataclass
class Verdict:
    """What Python and OpenSSL each said of one certificate."""

    case: str
    python_ok: bool             # the handshake finished and the line came back
    python_said: str            # "connected with TLSv1.3", or the error's words
    python_code: int | None     # SSLCertVerificationError.verify_code (0 when accepted)
    python_reason: str          # SSLError.reason, such as 'CERTIFICATE_VERIFY_FAILED'
    openssl_ok: bool | None     # exit code 0 and the line came back; None if openssl could not run
    openssl_said: str           # "Verify return code: 20 (...)", or why openssl could not run
    openssl_code: int | None
    openssl_error: str          # s_client's "verify error:num=..." line, "" if none
    openssl_exit: int | None
    seconds: float = 0.0

    @property
    def agree(self) -> bool:
        """Both clients came to the same verdict, with the same code."""
        return self.python_ok == self.openssl_ok and self.python_code == self.openssl_code

    @property
    def meaning(self) -> str:
        return meaning(self.openssl_code if self.openssl_code is not None else self.python_code)


def _certificate(case: str, ca: CertificateAuthority, stranger: CertificateAuthority):
    if case == "good":
        return ca.server_cert
    if case == "unknown CA":
        return stranger.server_cert
    if case == "wrong name":
        return ca.issue("other.example")
    return ca.issue(*SERVER_NAMES, expired=True)


def _check_case(case) -> str:
    if not isinstance(case, str) or case not in CASES:
        raise ArgumentError(f"The picker has no certificate {case!r}; it has {', '.join(map(repr, CASES))}.")
    return case


def _check_ca(ca, what: str):
    if ca is not None and not isinstance(ca, CertificateAuthority):
        raise ArgumentTypeError(f"The {what} must be a sockcourse.tls.CertificateAuthority, but got {ca!r} (type "
                                f"{type(ca).__name__}); for example {what}=tls.CertificateAuthority(), or leave it "
                                f"out and the picker makes its own.")
    return ca


def try_certificate(case: str, ca: CertificateAuthority | None = None, stranger: CertificateAuthority | None = None,
                    *, timeout: float = TIMEOUT) -> Verdict:
    """Serve the certificate `case` names on loopback and let Python and openssl s_client each try it.

    ca: the CA both clients trust, which issues the good, wrong-name and
        expired certificates; stranger: the CA of the "unknown CA" one.
        Either left out is made for this try and closed at its end.
    """
    case = _check_case(case)
    ca, stranger = _check_ca(ca, "ca"), _check_ca(stranger, "stranger")
    timeout = check_seconds(timeout, "timeout", none_ok=False, maximum=60, example=TIMEOUT)
    started = time.perf_counter()
    own = []
    try:
        if ca is None:
            ca = CertificateAuthority()
            own.append(ca)
        if stranger is None:
            stranger = CertificateAuthority("a stranger's CA")
            own.append(stranger)
        certificate = _certificate(case, ca, stranger)
        with serve(handlers.echo, tls=certificate) as server:
            python = _python_try(server.address, ca, timeout)
            openssl = _openssl_try(server.address, ca, timeout)
    finally:
        for authority in own:
            authority.close()
    return Verdict(case, *python, *openssl, seconds=time.perf_counter() - started)


def _python_try(address, ca: CertificateAuthority, timeout: float) -> tuple:
    """(ok, said, code, reason) of Python's client."""
    line = b"hello from Python\n"
    try:
        with socket.create_connection(address, timeout=timeout) as raw, \
                ca.client_context().wrap_socket(raw, server_hostname=HOSTNAME) as client:
            client.sendall(line)
            back = client.recv(1024)
            version = client.version()
    except ssl.SSLCertVerificationError as exc:
        return (False, f"{type(exc).__name__} (code {exc.verify_code}): {exc.verify_message}", exc.verify_code,
                exc.reason or "")
    except (ssl.SSLError, OSError) as exc:  # not a certificate check: the words are still Python's
        return False, f"{type(exc).__name__}: {exc}", None, getattr(exc, "reason", "") or ""
    if back != line:
        return False, f"connected with {version}, but the echo came back as {back!r}", 0, ""
    return True, f"connected with {version}, and the line came back", 0, ""


_VERIFY_CODE = re.compile(r"Verify return code: (\d+)")
_VERIFY_ERROR = re.compile(r"^verify error:num=\d+:.*$", re.M)


def _openssl_try(address, ca: CertificateAuthority, timeout: float) -> tuple:
    """(ok, said, code, error line, exit code) of openssl s_client."""
    try:
        result = openssl_s_client(address, ca.ca_file, servername=HOSTNAME, send=b"hello from openssl\n",
                                  timeout=timeout)
    except SockcourseError as exc:  # openssl is not installed: said, and Python's side still counts
        return None, str(exc), None, "", None
    said = result.verify_line or "(s_client printed no verify return code)"
    found = _VERIFY_CODE.search(said)
    errors = _VERIFY_ERROR.findall(result.stderr + result.stdout)
    ok = result.returncode == 0 and result.got_reply
    return ok, said, int(found.group(1)) if found else None, errors[-1] if errors else "", result.returncode


class PickerBox(FallbackBox):
    """A VBox whose text form is a useful fallback where widgets do not render."""

    picker = None


class CertPicker:
    """What the picker does: one try of the certificate picked, both clients' words side by side."""

    def __init__(self, ca: CertificateAuthority | None = None, stranger: CertificateAuthority | None = None,
                 *, timeout: float = TIMEOUT):
        self.ca, self.stranger = _check_ca(ca, "ca"), _check_ca(stranger, "stranger")
        self.timeout = check_seconds(timeout, "timeout", none_ok=False, maximum=60, example=TIMEOUT)
        self.verdicts: dict[str, Verdict] = {}
        self.choice = widgets.ToggleButtons(options=[(label, case) for case, label in CASES.items()], value=None,
                                            description="certificate", style={"button_width": "auto"})
        self.again = widgets.Button(description="try again", tooltip="run both handshakes again", disabled=True)
        self.status = widgets.HTML(value="<i>Pick a certificate: a server presents it, and Python and openssl "
                                         "s_client each try the handshake.</i>")
        self.result = widgets.HTML()
        self.problem = widgets.HTML()
        self.choice.observe(lambda change: self._guard(change["new"]), names="value")
        self.again.on_click(lambda _button: self._guard(self.choice.value))
        self.box = PickerBox([widgets.HBox([self.choice, self.again]), self.status, self.problem, self.result])
        self.box.fallback = fallback_text()
        self.box.picker = self

    def press(self, case: str) -> Verdict | None:
        """Pick `case` ('good', 'unknown CA', 'wrong name', 'expired') and try it, as a click would."""
        case = _check_case(case)
        if self.choice.value == case:
            return self._guard(case)  # the same pick again: ToggleButtons sends no change, so try directly
        self.choice.value = case       # the observer runs the try
        return self.verdicts.get(case)

    def _guard(self, case) -> Verdict | None:
        if case is None:
            return None
        self.again.disabled = self.choice.disabled = True
        self.problem.value = ""
        self.status.value = f"<i>trying {html.escape(CASES[case])} ...</i>"
        self.verdicts.pop(case, None)
        try:
            verdict = shown_problems(lambda: try_certificate(case, self.ca, self.stranger, timeout=self.timeout),
                                     problem=self.problem, not_yours="your pick",
                                     what_failed=f"The picker's try of {CASES[case]} failed")
        except Failed:
            self.status.value = ""
            return None
        finally:
            self.again.disabled = self.choice.disabled = False
        self.verdicts[case] = verdict
        self.status.value = (f"<b>{html.escape(CASES[case])}</b>: both clients trust the course's CA and ask "
                             f"for {HOSTNAME!r} (the try took {verdict.seconds:.2f} s)")
        self.result.value = _table(verdict)
        return verdict


def _cell(ok: bool | None, words: list[str]) -> str:
    colour = _GOOD if ok else WARN
    head = {True: "accepted", False: "refused", None: "could not run"}[ok]
    body = "<br>".join(f"<code>{html.escape(w)}</code>" for w in words if w)
    return (f"<td style='vertical-align:top;padding:0.3em 1.2em 0.3em 0'><b style='color:{colour}'>{head}</b>"
            f"<br>{body}</td>")


def _table(v: Verdict) -> str:
    python = [v.python_said, f"reason: {v.python_reason}" if v.python_reason else ""]
    openssl = [v.openssl_error, v.openssl_said,
               f"exit code {v.openssl_exit}" if v.openssl_exit is not None else ""]
    same = ("Both said the same, with the same code: Python's ssl module runs OpenSSL's check."
            if v.agree else "The two clients disagree here; look at both columns.")
    return ("<table><tr><th style='text-align:left'>Python (ssl)</th>"
            "<th style='text-align:left'>OpenSSL (openssl s_client)</th></tr>"
            f"<tr>{_cell(v.python_ok, python)}{_cell(v.openssl_ok, openssl)}</tr></table>"
            f"<p><b>What it means:</b> {html.escape(v.meaning)} <i>{html.escape(same)}</i></p>")


def fallback_text() -> str:
    """The box's text form: the same tries as plain calls, where widgets do not render."""
    lines = ["The certificate picker (a widget: in JupyterLab it is a row of buttons).",
             "Without widgets, try the same certificates as plain calls, for example:",
             "    from sockcourse.widgets.certpicker import try_certificate",
             "    verdict = try_certificate('expired')",
             "    print(verdict.python_said, '|', verdict.openssl_said, '|', verdict.meaning)",
             "The certificates it offers:"]
    lines += [f"    {case!r}: {label}" for case, label in CASES.items()]
    return "\n".join(lines)


def cert_picker(ca: CertificateAuthority | None = None, stranger: CertificateAuthority | None = None, *,
                timeout: float = TIMEOUT) -> PickerBox:
    """Chapter 05's certificate picker, a box to display in a cell (its .picker is the CertPicker behind it).

    ca, stranger: the CAs to use (the chapter's own, say); without them each
        try makes a fresh pair and closes it at its end.
    """
    return CertPicker(ca, stranger, timeout=timeout).box
