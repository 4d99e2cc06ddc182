"""q2 not written yet: the stub still raises NotImplementedError."""
QUESTION = "05_tls.q2"
EXPECT = {"status": "not-attempted", "only": ["accepts"]}


def answer(cert_file, key_file, client_ca_file):
    raise NotImplementedError("q2: write mtls_server_context")


def client_identity(tls_sock):
    raise NotImplementedError("q2: write client_identity")
