"""q2 with one mistake: the retransmission timer starts again at every old ACK, not at the last send."""
QUESTION = "02_udp.q2"
EXPECT = {"fails": ["old-ack"], "hint": "timer", "passes": ["plain", "data-loss", "ack-loss"]}


def answer(sock, address, chunks, timeout=0.2):
    seq = 0
    sock.settimeout(timeout)
    for chunk in chunks:
        datagram = b"D" + bytes([seq]) + chunk
        sock.sendto(datagram, address)
        while True:
            try:
                reply, _ = sock.recvfrom(2048)
            except TimeoutError:
                sock.sendto(datagram, address)
                continue
            if reply == b"A" + bytes([seq]):
                break
            # an old ACK: ignored, but the next recvfrom() waits a whole timeout again
        seq ^= 1
