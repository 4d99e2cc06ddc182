"""q2 with one mistake: when the ACK does not come in time, the sender goes on with the next chunk."""
QUESTION = "02_udp.q2"
EXPECT = {"fails": ["data-loss", "ack-loss", "rough"], "hint": "retransmit", "passes": ["plain", "delay"]}


def answer(sock, address, chunks, timeout=0.2):
    seq = 0
    sock.settimeout(timeout)
    for chunk in chunks:
        sock.sendto(b"D" + bytes([seq]) + chunk, address)
        try:
            while sock.recvfrom(2048)[0] != b"A" + bytes([seq]):
                pass
        except TimeoutError:
            pass  # lost, it seems: on with the next one
        seq ^= 1
