"""q2 with one mistake: sendto() to a client that is gone raises, and nothing catches it."""
QUESTION = "03_unix.q2"
EXPECT = {"fails": ["vanished"], "hint": "vanished", "passes": ["three-clients", "unnamed"]}


def answer(sock):
    received, counts = [], {}
    while True:
        data, sender = sock.recvfrom(65536)
        if data == b"DONE":
            return received
        received.append(data)
        if sender:
            counts[sender] = counts.get(sender, 0) + 1
            sock.sendto(str(counts[sender]).encode(), sender)
