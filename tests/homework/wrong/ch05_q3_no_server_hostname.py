"""q3 with one mistake: wrap_socket without server_hostname, which a context that checks host names refuses."""
QUESTION = "05_tls.q3"
EXPECT = {"fails": ["clean", "long", "truncated"], "hint": "context"}
import socket
import ssl


def answer(address, cafile, request):
    context = ssl.create_default_context(cafile=cafile)
    with socket.create_connection(address, timeout=10) as raw:
        with context.wrap_socket(raw, suppress_ragged_eofs=False) as sock:
            sock.sendall(request)
            parts = []
            while part := sock.recv(65536):
                parts.append(part)
            return b"".join(parts)
