"""q2 with one mistake: an empty datagram is taken for the end, as b'' is on a stream."""
QUESTION = "03_unix.q2"
EXPECT = {"fails": ["empty"], "hint": "empty-datagram", "passes": ["three-clients", "done"]}


def answer(sock):
    received, counts = [], {}
    while True:
        data, sender = sock.recvfrom(65536)
        if not data or data == b"DONE":
            return received
        received.append(data)
        if sender:
            counts[sender] = counts.get(sender, 0) + 1
            try:
                sock.sendto(str(counts[sender]).encode(), sender)
            except (FileNotFoundError, ConnectionRefusedError):
                pass
