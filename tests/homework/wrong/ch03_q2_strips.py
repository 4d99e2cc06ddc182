"""q2 with one mistake: the datagram is stripped before it is compared, so b" DONE" or b"DONE\n" ends the server."""
QUESTION = "03_unix.q2"
EXPECT = {"fails": ["exact-done"], "hint": "exact-done", "passes": ["three-clients", "done"]}


def answer(sock):
    received, counts = [], {}
    while True:
        data, sender = sock.recvfrom(65536)
        if data.strip() == b"DONE":
            return received
        received.append(data)
        if sender:
            counts[sender] = counts.get(sender, 0) + 1
            try:
                sock.sendto(str(counts[sender]).encode(), sender)
            except (FileNotFoundError, ConnectionRefusedError):
                pass
