"""q4 with one mistake: the pin replaces verification (CERT_NONE), so any certificate with that hash passes."""
QUESTION = "05_tls.q4"
EXPECT = {"fails": ["stranger-pinned", "wrong-name-pinned"], "hint": "pin-plus-ca",
          "passes": ["right-pin", "other-cert", "closes"]}
import hashlib
import socket
import ssl


def answer(address, cafile, pin):
    context = ssl.create_default_context(cafile=cafile)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    sock = context.wrap_socket(socket.create_connection(address, timeout=10), server_hostname="localhost")
    if hashlib.sha256(sock.getpeercert(binary_form=True)).hexdigest() != pin.replace(":", "").lower():
        sock.close()
        raise ssl.SSLCertVerificationError("the certificate is not the pinned one")
    return sock
