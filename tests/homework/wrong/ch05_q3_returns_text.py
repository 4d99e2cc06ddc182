"""q3 with one mistake: the reply decoded to str."""
QUESTION = "05_tls.q3"
EXPECT = {"fails": ["clean", "long"], "hint": "shape", "passes": ["untrusted", "truncated"]}
import socket
import ssl


def answer(address, cafile, request):
    context = ssl.create_default_context(cafile=cafile)
    with socket.create_connection(address, timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname="localhost", suppress_ragged_eofs=False) as sock:
            sock.sendall(request)
            parts = []
            while part := sock.recv(65536):
                parts.append(part)
            return b"".join(parts).decode()
