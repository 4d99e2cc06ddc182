"""q2 with one mistake: the context is done, client_identity is still the stub."""
QUESTION = "05_tls.q2"
EXPECT = {"fails": ["identity"], "hint": "write-identity", "passes": ["accepts", "no-cert", "other-ca"]}
import ssl


def answer(cert_file, key_file, client_ca_file):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    context.load_verify_locations(cafile=client_ca_file)
    context.verify_mode = ssl.CERT_REQUIRED
    return context


def client_identity(tls_sock):
    raise NotImplementedError("q2: write client_identity")
