"""q1 with one mistake: old TLS refused with the deprecated option bits, minimum_version lowered to anything."""
QUESTION = "05_tls.q1"
EXPECT = {"fails": ["old-tls"], "hint": "option-bits", "passes": ["good", "unknown-ca", "wrong-name"]}
import ssl


def answer(cafile):
    context = ssl.create_default_context(cafile=cafile)
    context.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
    context.options |= ssl.OP_NO_TLSv1 | ssl.OP_NO_TLSv1_1  # the way of old tutorials
    return context
