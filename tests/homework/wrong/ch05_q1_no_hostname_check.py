"""q1 with one mistake: check_hostname switched off ("the CA check is enough")."""
QUESTION = "05_tls.q1"
EXPECT = {"fails": ["wrong-name", "cn-only"], "hint": "check-hostname",
          "passes": ["good", "unknown-ca", "expired", "self-signed", "old-tls"]}
import ssl


def answer(cafile):
    context = ssl.create_default_context(cafile=cafile)
    context.check_hostname = False
    return context
