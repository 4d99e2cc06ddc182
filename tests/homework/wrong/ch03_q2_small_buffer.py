"""q2 with one mistake: recvfrom(4096), as in the chapter, cuts a bigger datagram short."""
QUESTION = "03_unix.q2"
EXPECT = {"fails": ["big"], "hint": "big-datagram", "passes": ["three-clients"]}


def answer(sock):
    received, counts = [], {}
    while True:
        data, sender = sock.recvfrom(4096)
        if data == b"DONE":
            return received
        received.append(data)
        if sender:
            counts[sender] = counts.get(sender, 0) + 1
            try:
                sock.sendto(str(counts[sender]).encode(), sender)
            except (FileNotFoundError, ConnectionRefusedError):
                pass
