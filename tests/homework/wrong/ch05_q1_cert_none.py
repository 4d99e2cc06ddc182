"""q1 with one mistake: the internet's "fix" for a verification error, verification switched off."""
QUESTION = "05_tls.q1"
EXPECT = {"fails": ["unknown-ca", "wrong-name", "expired", "self-signed", "cn-only", "not-yet-valid"],
          "hint": "verification-off", "passes": ["good", "old-tls"]}
import ssl


def answer(cafile):
    context = ssl.create_default_context(cafile=cafile)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context
