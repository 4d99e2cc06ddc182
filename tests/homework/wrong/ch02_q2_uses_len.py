"""q2 with one mistake: the chunks are indexed with range(len(chunks)), so a generator fails."""
QUESTION = "02_udp.q2"
EXPECT = {"fails": ["generator"], "hint": "iterable", "passes": ["plain", "data-loss"]}
import time


def answer(sock, address, chunks, timeout=0.2):
    for i in range(len(chunks)):
        seq = i % 2
        datagram = b"D" + bytes([seq]) + chunks[i]
        sock.sendto(datagram, address)
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                sock.sendto(datagram, address)
                deadline = time.monotonic() + timeout
                continue
            sock.settimeout(left)
            try:
                reply, _ = sock.recvfrom(2048)
            except TimeoutError:
                continue
            if reply == b"A" + bytes([seq]):
                break
