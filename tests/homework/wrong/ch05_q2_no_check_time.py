"""q2 with one mistake: the date check switched off, so an expired client certificate still gets in."""
QUESTION = "05_tls.q2"
EXPECT = {"fails": ["expired"], "hint": "dates", "passes": ["accepts", "no-cert", "other-ca"]}
import ssl

X509_V_FLAG_NO_CHECK_TIME = 0x200000  # OpenSSL's x509_vfy.h


def answer(cert_file, key_file, client_ca_file):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    context.load_verify_locations(cafile=client_ca_file)
    context.verify_mode = ssl.CERT_REQUIRED
    context.verify_flags |= X509_V_FLAG_NO_CHECK_TIME
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
