"""q4 with one mistake: the plain socket's `with` block is trusted to close the TLS socket too; it does not."""
QUESTION = "05_tls.q4"
EXPECT = {"fails": ["closes"], "hint": "close-refused", "passes": ["right-pin", "other-cert", "stranger-pinned"]}
import hashlib
import socket
import ssl


def answer(address, cafile, pin):
    context = ssl.create_default_context(cafile=cafile)
    with socket.create_connection(address, timeout=10) as raw:
        sock = context.wrap_socket(raw, server_hostname="localhost")
        if hashlib.sha256(sock.getpeercert(binary_form=True)).hexdigest() != pin.replace(":", "").lower():
            raise ssl.SSLCertVerificationError("the certificate is not the pinned one")
        return sock
