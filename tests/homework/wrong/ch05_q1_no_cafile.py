"""q1 with one mistake: the default context, without the course's CA (it trusts only the system's CAs)."""
QUESTION = "05_tls.q1"
EXPECT = {"fails": ["good", "wrong-name", "expired"], "hint": "trust-cafile"}
import ssl


def answer(cafile):
    return ssl.create_default_context()
