"""q2 with one mistake: any ACK is taken for the ACK of the chunk in flight, whatever its number."""
QUESTION = "02_udp.q2"
EXPECT = {"fails": ["old-ack"], "hint": "check-ack", "passes": ["plain", "data-loss"]}


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
            if reply[:1] == b"A":
                break
        seq ^= 1
