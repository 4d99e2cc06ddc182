"""q2 with one mistake: after each send it sleeps the whole timeout, then looks for the ACK."""
QUESTION = "02_udp.q2"
EXPECT = {"fails": ["delay"], "hint": "wait-for-ack", "passes": ["plain", "old-ack"]}
import time


def answer(sock, address, chunks, timeout=0.2):
    seq = 0
    sock.setblocking(False)
    for chunk in chunks:
        datagram = b"D" + bytes([seq]) + chunk
        acked = False
        while not acked:
            sock.sendto(datagram, address)
            time.sleep(timeout)
            while True:
                try:
                    reply, _ = sock.recvfrom(2048)
                except BlockingIOError:
                    break
                acked = acked or reply == b"A" + bytes([seq])
        seq ^= 1
