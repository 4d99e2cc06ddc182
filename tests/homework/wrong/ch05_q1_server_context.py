"""q1 with one mistake: a server's context (PROTOCOL_TLS_SERVER) made for a client."""
QUESTION = "05_tls.q1"
EXPECT = {"fails": ["good", "unknown-ca"], "hint": "shape"}
import ssl


def answer(cafile):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_verify_locations(cafile)
    return context
