"""q1 with one mistake: the date check switched off, for a device whose clock is often wrong."""
QUESTION = "05_tls.q1"
EXPECT = {"fails": ["expired", "not-yet-valid"], "hint": "dates", "passes": ["good", "unknown-ca", "wrong-name"]}
import ssl

X509_V_FLAG_NO_CHECK_TIME = 0x200000  # OpenSSL's x509_vfy.h; Python has no name for it


def answer(cafile):
    context = ssl.create_default_context(cafile=cafile)
    context.verify_flags |= X509_V_FLAG_NO_CHECK_TIME
    return context
