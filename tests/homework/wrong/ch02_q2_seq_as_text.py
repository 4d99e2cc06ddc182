"""q2 with one mistake: the sequence number is sent as the character '0' or '1', not as a byte."""
QUESTION = "02_udp.q2"
EXPECT = {"fails": ["plain"], "hint": "format"}
import time


def answer(sock, address, chunks, timeout=0.2):
    seq = 0
    for chunk in chunks:
        datagram = b"D" + str(seq).encode() + chunk
        sock.settimeout(timeout)
        while True:
            sock.sendto(datagram, address)
            try:
                reply, _ = sock.recvfrom(2048)
            except TimeoutError:
                continue
            if reply == b"A" + str(seq).encode():
                break
        seq ^= 1
