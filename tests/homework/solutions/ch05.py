"""Chapter 05's answers, written as a student would; they must earn full marks under the graded checks."""

import hashlib
import socket
import ssl


def make_client_context(cafile):
    # The defaults are the safe ones: CERT_REQUIRED, check_hostname, TLS 1.2 at least.
    context = ssl.create_default_context(cafile=cafile)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def mtls_server_context(cert_file, key_file, client_ca_file):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    context.load_verify_locations(cafile=client_ca_file)
    context.verify_mode = ssl.CERT_REQUIRED
    return context


def client_identity(tls_sock):
    cert = tls_sock.getpeercert()
    if not cert:
        return None
    for rdn in cert.get("subject", ()):
        for field, value in rdn:
            if field == "commonName":
                return value
    for _kind, value in cert.get("subjectAltName", ()):
        return value
    return None


def fetch(address, cafile, request):
    context = ssl.create_default_context(cafile=cafile)
    with socket.create_connection(address, timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname="localhost", suppress_ragged_eofs=False) as sock:
            sock.sendall(request)
            parts = []
            while True:
                part = sock.recv(65536)
                if not part:  # only after the server's close_notify
                    return b"".join(parts)
                parts.append(part)


def connect_pinned(address, cafile, pin):
    wanted = pin.replace(":", "").lower()
    context = ssl.create_default_context(cafile=cafile)
    raw = socket.create_connection(address, timeout=10)
    try:
        sock = context.wrap_socket(raw, server_hostname="localhost")
    except BaseException:
        raw.close()
        raise
    found = hashlib.sha256(sock.getpeercert(binary_form=True)).hexdigest()
    if found != wanted:
        sock.close()
        raise ssl.SSLCertVerificationError(f"the certificate's fingerprint is {found}, not the pinned {wanted}")
    return sock
