"""q3 with one mistake: the default suppress_ragged_eofs=True, so a TCP close without close_notify passes for the end."""
QUESTION = "05_tls.q3"
EXPECT = {"fails": ["truncated", "reset", "nothing"], "hint": "ragged-eof", "passes": ["clean", "long", "untrusted"]}
import socket
import ssl


def answer(address, cafile, request):
    context = ssl.create_default_context(cafile=cafile)
    with socket.create_connection(address, timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname="localhost") as sock:
            sock.sendall(request)
            parts = []
            while part := sock.recv(65536):
                parts.append(part)
            return b"".join(parts)
