"""q2 with one mistake: client_identity returns the name as bytes (encoded "for the wire")."""
QUESTION = "05_tls.q2"
EXPECT = {"fails": ["identity", "stranger-name", "san-only"], "hint": "exact-name",
          "passes": ["accepts", "anonymous"]}
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
    names = dict(pair for rdn in cert.get("subject", ()) for pair in rdn)
    if "commonName" in names:
        return names["commonName"].encode()
    return cert["subjectAltName"][0][1].encode()
