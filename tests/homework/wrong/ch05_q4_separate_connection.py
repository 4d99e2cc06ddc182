"""q4 with one mistake: the pin checked on a first connection (get_server_certificate), another one returned."""
QUESTION = "05_tls.q4"
EXPECT = {"fails": ["same-connection"], "hint": "same-connection", "passes": ["right-pin", "other-cert", "closes"]}
import hashlib
import socket
import ssl


def answer(address, cafile, pin):
    pem = ssl.get_server_certificate(address, ca_certs=cafile)
    if hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem)).hexdigest() != pin.replace(":", "").lower():
        raise ssl.SSLCertVerificationError("the server's certificate is not the pinned one")
    context = ssl.create_default_context(cafile=cafile)
    return context.wrap_socket(socket.create_connection(address, timeout=10), server_hostname="localhost")
