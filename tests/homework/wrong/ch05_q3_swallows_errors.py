"""q3 with one mistake: "robust" reading that returns what it has when the connection breaks."""
QUESTION = "05_tls.q3"
EXPECT = {"fails": ["truncated", "reset"], "hint": "reset", "passes": ["clean", "long", "untrusted"]}
import socket
import ssl


def answer(address, cafile, request):
    context = ssl.create_default_context(cafile=cafile)
    with socket.create_connection(address, timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname="localhost", suppress_ragged_eofs=False) as sock:
            sock.sendall(request)
            parts = []
            try:
                while part := sock.recv(65536):
                    parts.append(part)
            except (ssl.SSLEOFError, ConnectionError):
                pass  # the server went away: keep what arrived
            return b"".join(parts)
