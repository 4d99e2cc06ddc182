"""q2 with one mistake: client_identity assumes every certificate has a commonName."""
QUESTION = "05_tls.q2"
EXPECT = {"fails": ["san-only"], "hint": "no-cn", "passes": ["identity", "stranger-name", "anonymous"]}
import ssl


def answer(cert_file, key_file, client_ca_file):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    context.load_verify_locations(cafile=client_ca_file)
    context.verify_mode = ssl.CERT_REQUIRED
    return context


def client_identity(tls_sock):
    cert = tls_sock.getpeercert()
    if not cert:
        return None
    subject = dict(pair for rdn in cert["subject"] for pair in rdn)
    return subject["commonName"]
