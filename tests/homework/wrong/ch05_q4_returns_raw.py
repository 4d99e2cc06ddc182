"""q4 with one mistake: the plain socket returned, which wrap_socket has detached, instead of the TLS one."""
QUESTION = "05_tls.q4"
EXPECT = {"fails": ["right-pin"], "hint": "shape", "passes": ["other-cert", "closes", "stranger-pinned"]}
import hashlib
import socket
import ssl


def answer(address, cafile, pin):
    context = ssl.create_default_context(cafile=cafile)
    raw = socket.create_connection(address, timeout=10)
    sock = context.wrap_socket(raw, server_hostname="localhost")
    if hashlib.sha256(sock.getpeercert(binary_form=True)).hexdigest() != pin.replace(":", "").lower():
        sock.close()
        raise ssl.SSLCertVerificationError("the certificate is not the pinned one")
    return raw
