"""q4 with one mistake: check_hostname switched off "because the pin already says which certificate"."""
QUESTION = "05_tls.q4"
EXPECT = {"fails": ["wrong-name-pinned"], "hint": "hostname", "passes": ["right-pin", "other-cert", "stranger-pinned"]}
import hashlib
import socket
import ssl


def answer(address, cafile, pin):
    context = ssl.create_default_context(cafile=cafile)
    context.check_hostname = False
    sock = context.wrap_socket(socket.create_connection(address, timeout=10), server_hostname="localhost")
    if hashlib.sha256(sock.getpeercert(binary_form=True)).hexdigest() != pin.replace(":", "").lower():
        sock.close()
        raise ssl.SSLCertVerificationError("the certificate is not the pinned one")
    return sock
