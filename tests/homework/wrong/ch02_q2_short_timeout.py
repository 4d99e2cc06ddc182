"""q2 with one mistake: a timeout of its own, 10 ms ("loopback is fast"), instead of the one given."""
QUESTION = "02_udp.q2"
EXPECT = {"fails": ["data-loss", "delay"], "hint": "eager", "passes": ["plain"]}
import time


def answer(sock, address, chunks, timeout=0.2):
    seq = 0
    for chunk in chunks:
        datagram = b"D" + bytes([seq]) + chunk
        sock.sendto(datagram, address)
        deadline = time.monotonic() + 0.01
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                sock.sendto(datagram, address)
                deadline = time.monotonic() + 0.01
                continue
            sock.settimeout(left)
            try:
                reply, _ = sock.recvfrom(2048)
            except TimeoutError:
                continue
            if reply == b"A" + bytes([seq]):
                break
        seq ^= 1
