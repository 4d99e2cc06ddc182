"""q2 with one mistake: client_identity assumes there always is a certificate."""
QUESTION = "05_tls.q2"
EXPECT = {"fails": ["anonymous"], "hint": "none", "passes": ["identity", "stranger-name", "san-only"]}
import ssl


def answer(cert_file, key_file, client_ca_file):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    context.load_verify_locations(cafile=client_ca_file)
    context.verify_mode = ssl.CERT_REQUIRED
    return context


def client_identity(tls_sock):
    cert = tls_sock.getpeercert()
    for rdn in cert["subject"]:
        for field, value in rdn:
            if field == "commonName":
                return value
    return cert["subjectAltName"][0][1]
