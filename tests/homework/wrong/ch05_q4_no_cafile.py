"""q4 with one mistake: "the pin is enough", so the context gets no CA, and the handshake fails."""
QUESTION = "05_tls.q4"
EXPECT = {"fails": ["right-pin", "other-cert"], "hint": "context"}
import hashlib
import socket
import ssl


def answer(address, cafile, pin):
    context = ssl.create_default_context()
    sock = context.wrap_socket(socket.create_connection(address, timeout=10), server_hostname="localhost")
    if hashlib.sha256(sock.getpeercert(binary_form=True)).hexdigest() != pin.replace(":", "").lower():
        sock.close()
        raise ssl.SSLCertVerificationError("the certificate is not the pinned one")
    return sock
