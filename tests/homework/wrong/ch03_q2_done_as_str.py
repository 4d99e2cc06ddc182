"""q2 with one mistake: the datagram is compared with the str "DONE", which bytes never equal."""
QUESTION = "03_unix.q2"
EXPECT = {"fails": ["three-clients"], "hint": "done-bytes", "only": ["three-clients"]}


def answer(sock):
    received, counts = [], {}
    while True:
        data, sender = sock.recvfrom(65536)
        if data == "DONE":
            return received
        received.append(data)
        if sender:
            counts[sender] = counts.get(sender, 0) + 1
            try:
                sock.sendto(str(counts[sender]).encode(), sender)
            except (FileNotFoundError, ConnectionRefusedError):
                pass
