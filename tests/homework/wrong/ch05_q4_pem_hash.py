"""q4 with one mistake: the fingerprint taken of Python's summary of the certificate, not of its DER bytes."""
QUESTION = "05_tls.q4"
EXPECT = {"fails": ["right-pin", "colon-pin"], "hint": "der-hash", "passes": ["other-cert", "closes"]}
import hashlib
import socket
import ssl


def answer(address, cafile, pin):
    context = ssl.create_default_context(cafile=cafile)
    sock = context.wrap_socket(socket.create_connection(address, timeout=10), server_hostname="localhost")
    found = hashlib.sha256(str(sock.getpeercert()).encode()).hexdigest()
    if found != pin.replace(":", "").lower():
        sock.close()
        raise ssl.SSLCertVerificationError("the certificate is not the pinned one")
    return sock
