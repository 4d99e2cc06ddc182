"""q3 with one mistake: a short silence taken for the end of the reply."""
QUESTION = "05_tls.q3"
EXPECT = {"fails": ["pause"], "hint": "pause", "passes": ["clean", "long", "truncated", "reset"]}
import socket
import ssl


def answer(address, cafile, request):
    context = ssl.create_default_context(cafile=cafile)
    with socket.create_connection(address, timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname="localhost", suppress_ragged_eofs=False) as sock:
            sock.sendall(request)
            sock.settimeout(0.3)
            parts = []
            while True:
                try:
                    part = sock.recv(65536)
                except socket.timeout:
                    break
                if not part:
                    break
                parts.append(part)
            return b"".join(parts)
