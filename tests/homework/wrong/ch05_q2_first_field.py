"""q2 with one mistake: client_identity takes the subject's first field, which is the organisation."""
QUESTION = "05_tls.q2"
EXPECT = {"fails": ["identity", "stranger-name"], "hint": "subject", "passes": ["accepts"]}
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
    return cert["subject"][0][0][1]
