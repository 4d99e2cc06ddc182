"""q2 with one mistake: Purpose.CLIENT_AUTH loads the clients' CA, but its verify_mode stays CERT_NONE."""
QUESTION = "05_tls.q2"
EXPECT = {"fails": ["no-cert", "other-ca", "expired"], "hint": "require", "passes": ["accepts", "identity"]}
import ssl


def answer(cert_file, key_file, client_ca_file):
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=client_ca_file)
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
