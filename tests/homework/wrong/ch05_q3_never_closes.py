"""q3 with one mistake: the TLS socket is never closed (no `with`, no close())."""
QUESTION = "05_tls.q3"
EXPECT = {"fails": ["closes"], "hint": "close", "passes": ["clean", "long", "truncated"]}
import socket
import ssl


def answer(address, cafile, request):
    context = ssl.create_default_context(cafile=cafile)
    raw = socket.create_connection(address, timeout=10)
    sock = context.wrap_socket(raw, server_hostname="localhost", suppress_ragged_eofs=False)
    sock.sendall(request)
    reply = b""
    while part := sock.recv(65536):
        reply += part
    return reply
