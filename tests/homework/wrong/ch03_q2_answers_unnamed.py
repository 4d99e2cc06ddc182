"""q2 with one mistake: every sender is answered, also one without a name (its address is None)."""
QUESTION = "03_unix.q2"
EXPECT = {"fails": ["unnamed"], "hint": "unnamed", "passes": ["three-clients"]}


def answer(sock):
    received, counts = [], {}
    while True:
        data, sender = sock.recvfrom(65536)
        if data == b"DONE":
            return received
        received.append(data)
        counts[sender] = counts.get(sender, 0) + 1
        try:
            sock.sendto(str(counts[sender]).encode(), sender)
        except (FileNotFoundError, ConnectionRefusedError):
            pass
