"""q1 with one mistake: the CA loaded with load_cert_chain (for one's own certificate), not as a trust anchor."""
QUESTION = "05_tls.q1"
EXPECT = {"fails": ["good"], "hint": "trust-cafile"}
import ssl


def answer(cafile):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_cert_chain(cafile)
    return context
