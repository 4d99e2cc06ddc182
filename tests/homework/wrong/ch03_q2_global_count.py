"""q2 with one mistake: one count for all clients together, not one per client."""
QUESTION = "03_unix.q2"
EXPECT = {"fails": ["three-clients"], "hint": "per-client-count", "passes": []}


def answer(sock):
    received = []
    while True:
        data, sender = sock.recvfrom(65536)
        if data == b"DONE":
            return received
        received.append(data)
        if sender:
            try:
                sock.sendto(str(len(received)).encode(), sender)
            except (FileNotFoundError, ConnectionRefusedError):
                pass
