"""q3 with one mistake: verification switched off because the test server's certificate "did not work"."""
QUESTION = "05_tls.q3"
EXPECT = {"fails": ["untrusted"], "hint": "verify", "passes": ["clean", "long", "truncated", "reset"]}
import socket
import ssl


def answer(address, cafile, request):
    context = ssl.create_default_context(cafile=cafile)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with socket.create_connection(address, timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname="localhost", suppress_ragged_eofs=False) as sock:
            sock.sendall(request)
            parts = []
            while part := sock.recv(65536):
                parts.append(part)
            return b"".join(parts)
