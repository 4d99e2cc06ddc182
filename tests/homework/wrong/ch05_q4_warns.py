"""q4 with one mistake: a wrong pin only warns, and the connection is used anyway."""
QUESTION = "05_tls.q4"
EXPECT = {"fails": ["other-cert", "closes"], "hint": "raise", "passes": ["right-pin", "stranger-pinned"]}
import hashlib
import socket
import ssl
import warnings


def answer(address, cafile, pin):
    context = ssl.create_default_context(cafile=cafile)
    sock = context.wrap_socket(socket.create_connection(address, timeout=10), server_hostname="localhost")
    if hashlib.sha256(sock.getpeercert(binary_form=True)).hexdigest() != pin.replace(":", "").lower():
        warnings.warn("the server's certificate is not the pinned one")
    return sock
