"""q2 with one mistake: DONE is answered like any datagram before the server returns."""
QUESTION = "03_unix.q2"
EXPECT = {"fails": ["done"], "hint": "done-ends", "passes": []}


def answer(sock):
    received, counts = [], {}
    while True:
        data, sender = sock.recvfrom(65536)
        if sender:
            counts[sender] = counts.get(sender, 0) + 1
            try:
                sock.sendto(str(counts[sender]).encode(), sender)
            except (FileNotFoundError, ConnectionRefusedError):
                pass
        if data == b"DONE":
            return received
        received.append(data)
