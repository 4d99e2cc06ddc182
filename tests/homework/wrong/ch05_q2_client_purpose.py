"""q2 with one mistake: create_default_context() without a purpose, which makes a client's context."""
QUESTION = "05_tls.q2"
EXPECT = {"fails": ["accepts", "no-cert", "expired"], "hint": "server-context", "passes": ["identity"]}
import ssl


def answer(cert_file, key_file, client_ca_file):
    context = ssl.create_default_context(cafile=client_ca_file)
    context.load_cert_chain(cert_file, key_file)
    return context


def client_identity(tls_sock):
    cert = tls_sock.getpeercert()
    if not cert:
        return None
    for rdn in cert.get("subject", ()):
        for field, value in rdn:
            if field == "commonName":
                return value
    for _kind, value in cert.get("subjectAltName", ()):
        return value
    return None
