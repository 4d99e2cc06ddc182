"""q1 with one mistake: a pong that comes after its timeout is still counted, with its long RTT."""
QUESTION = "02_udp.q1"
EXPECT = {"fails": ["late"], "hint": "late-is-lost", "passes": ["plain", "duplicate"]}
import socket
import time


def answer(address, count=10, timeout=0.5):
    sent_at, rtts = {}, {}
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.connect(address)
        for seq in range(1, count + 1):
            sent_at[seq] = time.monotonic()
            sock.send(f"PING {seq} {time.time()}".encode())
            deadline = sent_at[seq] + timeout
            while seq not in rtts and time.monotonic() < deadline:
                sock.settimeout(max(0.001, deadline - time.monotonic()))
                try:
                    pong = sock.recv(2048)
                except TimeoutError:
                    break
                number = int(pong.split()[1])
                if number not in rtts:  # any ping's first pong counts, even one given up on
                    rtts[number] = time.monotonic() - sent_at[number]
    values = [rtts[seq] for seq in sorted(rtts)]
    received = len(values)
    return {"sent": count, "received": received, "loss_percent": 100.0 * (count - received) / count,
            "rtts": values, "min": min(values) if values else None,
            "avg": sum(values) / received if values else None, "max": max(values) if values else None}
