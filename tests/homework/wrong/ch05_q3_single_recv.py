"""q3 with one mistake: one recv() taken for the whole reply."""
QUESTION = "05_tls.q3"
EXPECT = {"fails": ["long"], "hint": "read-to-end", "passes": ["clean", "untrusted"]}
import socket
import ssl


def answer(address, cafile, request):
    context = ssl.create_default_context(cafile=cafile)
    with socket.create_connection(address, timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname="localhost", suppress_ragged_eofs=False) as sock:
            sock.sendall(request)
            return sock.recv(1 << 20)
