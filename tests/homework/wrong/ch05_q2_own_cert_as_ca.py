"""q2 with one mistake: the server's own certificate loaded to check clients with, not the clients' CA."""
QUESTION = "05_tls.q2"
EXPECT = {"fails": ["accepts", "no-cert"], "hint": "client-ca", "passes": ["identity"]}
import ssl


def answer(cert_file, key_file, client_ca_file):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    context.load_verify_locations(cafile=cert_file)
    context.verify_mode = ssl.CERT_REQUIRED
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
