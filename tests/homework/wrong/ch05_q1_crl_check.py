"""q1 with one mistake: "more checks are safer", a revocation check that wants a CRL nobody has."""
QUESTION = "05_tls.q1"
EXPECT = {"fails": ["good", "expired"], "hint": "verify-flags"}
import ssl


def answer(cafile):
    context = ssl.create_default_context(cafile=cafile)
    context.verify_flags |= ssl.VERIFY_CRL_CHECK_CHAIN
    return context
