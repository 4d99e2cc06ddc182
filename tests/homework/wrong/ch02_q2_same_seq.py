"""q2 with one mistake: every chunk goes out with sequence number 0."""
QUESTION = "02_udp.q2"
EXPECT = {"fails": ["plain"], "hint": "alternate"}


def answer(sock, address, chunks, timeout=0.2):
    sock.settimeout(timeout)
    for chunk in chunks:
        datagram = b"D" + bytes([0]) + chunk
        while True:
            sock.sendto(datagram, address)
            try:
                if sock.recvfrom(2048)[0] == b"A\x00":
                    break
            except TimeoutError:
                pass
