"""q2 with one mistake: CERT_OPTIONAL, which lets in a client that sends no certificate."""
QUESTION = "05_tls.q2"
EXPECT = {"fails": ["no-cert"], "hint": "optional", "passes": ["accepts", "other-ca", "expired", "identity"]}
import ssl


def answer(cert_file, key_file, client_ca_file):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    context.load_verify_locations(cafile=client_ca_file)
    context.verify_mode = ssl.CERT_OPTIONAL
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
