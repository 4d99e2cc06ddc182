"""Chapter 05's certificate picker: each certificate's verdict from Python and from the real openssl s_client."""

from __future__ import annotations

import shutil
import threading

import pytest

pytest.importorskip("ipywidgets")

import sockcourse  # noqa: E402
from sockcourse import tls  # noqa: E402
from sockcourse.core.errors import ArgumentError, ArgumentTypeError  # noqa: E402
from sockcourse.widgets.certpicker import CASES, MEANINGS, cert_picker, fallback_text, try_certificate  # noqa: E402

needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None,
                                   reason="the openssl program is not installed (apt install openssl)")

#: The X509 verify code each certificate must get (OpenSSL's x509_vfy.h; X509_STORE_CTX_get_error(3)).
EXPECTED = {"good": 0, "unknown CA": 20, "wrong name": 62, "expired": 10}


@needs_openssl
@pytest.mark.parametrize("case", list(CASES))
def test_each_certificate_is_judged_alike_by_python_and_openssl(case):
    before = threading.active_count()
    verdict = try_certificate(case)
    code = EXPECTED[case]
    good = case == "good"
    assert verdict.python_ok is good and verdict.openssl_ok is good
    assert verdict.python_code == verdict.openssl_code == code and verdict.agree
    assert verdict.openssl_exit == (0 if good else 1)
    assert verdict.openssl_said.startswith(f"Verify return code: {code} (")
    if good:
        assert verdict.python_said.startswith("connected with TLSv1.3") and not verdict.openssl_error
    else:
        assert verdict.python_reason == "CERTIFICATE_VERIFY_FAILED"
        assert verdict.python_said.startswith(f"SSLCertVerificationError (code {code}): ")
        assert verdict.openssl_error.startswith(f"verify error:num={code}:")
    assert verdict.meaning == MEANINGS[code]
    # Its own CAs closed, its server stopped, no thread left.
    assert not sockcourse.running() and threading.active_count() <= before


@needs_openssl
def test_a_pick_shows_both_clients_words_side_by_side():
    box = cert_picker()
    picker = box.picker
    seconds = {}
    for case in CASES:
        verdict = picker.press(case)
        seconds[case] = verdict.seconds
        shown = picker.result.value.replace("&#x27;", "'")
        assert verdict.python_said in shown and verdict.openssl_said in shown
        assert verdict.meaning in shown and ("accepted" in shown) is (case == "good")
        assert not picker.problem.value and not picker.choice.disabled and not picker.again.disabled
    again = picker.press("expired")  # the same pick again tries again
    assert again is not None and again.python_code == 10 and again is not picker.verdicts.get("good")
    print("\npicker press -> verdict shown (s):", {k: round(v, 3) for k, v in seconds.items()})
    assert not sockcourse.running()


@needs_openssl
def test_given_cas_are_used_and_left_open_and_a_closed_one_is_said_in_the_panel():
    with tls.CertificateAuthority() as ca, tls.CertificateAuthority("a stranger's CA") as stranger:
        picker = cert_picker(ca, stranger).picker
        assert picker.press("unknown CA").openssl_code == 20
        assert picker.press("good").python_ok
        assert ca.running and stranger.running
    # The chapter closed its CAs: a pick says so in the panel instead of raising.
    assert picker.press("wrong name") is None
    assert "is closed" in picker.problem.value and not picker.choice.disabled
    assert not sockcourse.running()


def test_bad_input_gets_a_sentence():
    with pytest.raises(ArgumentError, match=r"no certificate 'self-signed'; it has 'good', 'unknown CA'"):
        try_certificate("self-signed")
    with pytest.raises(ArgumentTypeError, match=r"The ca must be a sockcourse.tls.CertificateAuthority"):
        cert_picker("ca.crt")
    with pytest.raises(ArgumentError, match=r"no certificate 'bad'"):
        cert_picker().picker.press("bad")


def test_where_widgets_do_not_render_the_text_names_the_plain_call():
    box = cert_picker()
    bundle = box._repr_mimebundle_()
    data = bundle[0] if isinstance(bundle, tuple) else bundle
    assert data["text/plain"] == fallback_text() and "try_certificate('expired')" in data["text/plain"]
    assert all(f"{case!r}: {label}" in data["text/plain"] for case, label in CASES.items())
    assert "application/vnd.jupyter.widget-view+json" in data
