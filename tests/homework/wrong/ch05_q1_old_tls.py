"""q1 with one mistake: TLS 1.0 allowed again "for an old printer", security level lowered to make it work."""
QUESTION = "05_tls.q1"
EXPECT = {"fails": ["old-tls"], "hint": "tls-floor", "passes": ["good", "unknown-ca", "wrong-name", "expired"]}
import ssl
import warnings


def answer(cafile):
    context = ssl.create_default_context(cafile=cafile)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = ssl.TLSVersion.TLSv1
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    return context
