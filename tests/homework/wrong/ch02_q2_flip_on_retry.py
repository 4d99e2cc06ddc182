"""q2 with one mistake: a retransmission flips the sequence number, as if it were a new chunk."""
QUESTION = "02_udp.q2"
EXPECT = {"fails": ["data-loss", "ack-loss"], "hint": "alternate", "passes": ["plain", "delay"]}


def answer(sock, address, chunks, timeout=0.2):
    seq = 0
    sock.settimeout(timeout)
    for chunk in chunks:
        while True:
            sock.sendto(b"D" + bytes([seq]) + chunk, address)
            try:
                reply, _ = sock.recvfrom(2048)
            except TimeoutError:
                seq ^= 1
                continue
            if reply == b"A" + bytes([seq]):
                break
        seq ^= 1
