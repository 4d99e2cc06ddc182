"""q2 with one mistake: it returns the counts per client instead of the datagrams."""
QUESTION = "03_unix.q2"
EXPECT = {"fails": ["three-clients"], "hint": "return-list", "passes": []}


def answer(sock):
    counts = {}
    while True:
        data, sender = sock.recvfrom(65536)
        if data == b"DONE":
            return counts
        if sender:
            counts[sender] = counts.get(sender, 0) + 1
            try:
                sock.sendto(str(counts[sender]).encode(), sender)
            except (FileNotFoundError, ConnectionRefusedError):
                pass
