"""q2 with one mistake: recvfrom(65535), one byte short of the 65,536 the statement promises."""
QUESTION = "03_unix.q2"
EXPECT = {"fails": ["big"], "hint": "big-datagram", "passes": ["three-clients", "done"]}


def answer(sock):
    received, counts = [], {}
    while True:
        data, sender = sock.recvfrom(65535)
        if data == b"DONE":
            return received
        received.append(data)
        if sender:
            counts[sender] = counts.get(sender, 0) + 1
            try:
                sock.sendto(str(counts[sender]).encode(), sender)
            except (FileNotFoundError, ConnectionRefusedError):
                pass
