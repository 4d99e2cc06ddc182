"""q3 with one mistake: check_hostname switched off (no server_hostname needed then), the CA still checked."""
QUESTION = "05_tls.q3"
EXPECT = {"fails": ["wrong-name"], "hint": "hostname", "passes": ["clean", "untrusted", "truncated"]}
import socket
import ssl


def answer(address, cafile, request):
    context = ssl.create_default_context(cafile=cafile)
    context.check_hostname = False
    with socket.create_connection(address, timeout=10) as raw:
        with context.wrap_socket(raw, suppress_ragged_eofs=False) as sock:
            sock.sendall(request)
            parts = []
            while part := sock.recv(65536):
                parts.append(part)
            return b"".join(parts)
