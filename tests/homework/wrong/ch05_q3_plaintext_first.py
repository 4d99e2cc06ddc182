"""q3 with one mistake: the request goes out on the plain socket, before the handshake."""
QUESTION = "05_tls.q3"
EXPECT = {"fails": ["clean", "truncated"], "hint": "context"}
import socket
import ssl


def answer(address, cafile, request):
    context = ssl.create_default_context(cafile=cafile)
    with socket.create_connection(address, timeout=10) as raw:
        raw.sendall(request)
        with context.wrap_socket(raw, server_hostname="localhost", suppress_ragged_eofs=False) as sock:
            parts = []
            while part := sock.recv(65536):
                parts.append(part)
            return b"".join(parts)
