"""q2 with one mistake: an ACK with the wrong number makes the sender send the chunk again at once."""
QUESTION = "02_udp.q2"
EXPECT = {"fails": ["duplicate"], "hint": "sorcerer", "passes": ["plain", "old-ack", "delay"]}


def answer(sock, address, chunks, timeout=0.2):
    seq = 0
    sock.settimeout(timeout)
    for chunk in chunks:
        datagram = b"D" + bytes([seq]) + chunk
        while True:
            sock.sendto(datagram, address)
            try:
                reply, _ = sock.recvfrom(2048)
            except TimeoutError:
                continue
            if reply == b"A" + bytes([seq]):
                break
            # the wrong ACK: the receiver must have missed it, so send again right away
        seq ^= 1
