"""q4 with one mistake: the pin compared as given, so 'AB:CD:...' never matches hexdigest()."""
QUESTION = "05_tls.q4"
EXPECT = {"fails": ["colon-pin"], "hint": "pin-format", "passes": ["right-pin", "other-cert", "closes"]}
import hashlib
import socket
import ssl


def answer(address, cafile, pin):
    context = ssl.create_default_context(cafile=cafile)
    sock = context.wrap_socket(socket.create_connection(address, timeout=10), server_hostname="localhost")
    if hashlib.sha256(sock.getpeercert(binary_form=True)).hexdigest() != pin:
        sock.close()
        raise ssl.SSLCertVerificationError("the certificate is not the pinned one")
    return sock
