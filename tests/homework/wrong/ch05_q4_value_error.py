"""q4 with one mistake: a wrong pin raises ValueError, which callers do not handle as a TLS failure."""
QUESTION = "05_tls.q4"
EXPECT = {"fails": ["other-cert", "closes"], "hint": "error-type", "passes": ["right-pin", "stranger-pinned"]}
import hashlib
import socket
import ssl


def answer(address, cafile, pin):
    context = ssl.create_default_context(cafile=cafile)
    sock = context.wrap_socket(socket.create_connection(address, timeout=10), server_hostname="localhost")
    if hashlib.sha256(sock.getpeercert(binary_form=True)).hexdigest() != pin.replace(":", "").lower():
        sock.close()
        raise ValueError("the certificate is not the pinned one")
    return sock
