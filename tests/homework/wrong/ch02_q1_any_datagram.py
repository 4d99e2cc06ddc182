"""q1 with one mistake: whatever datagram arrives next is taken for the pong of the ping just sent."""
QUESTION = "02_udp.q1"
EXPECT = {"fails": ["duplicate", "late", "reorder"], "hint": "match-seq", "passes": ["plain", "loss"]}
import socket
import time


def answer(address, count=10, timeout=0.5):
    rtts = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.connect(address)
        sock.settimeout(timeout)
        for seq in range(1, count + 1):
            started = time.monotonic()
            sock.send(f"PING {seq} {time.time()}".encode())
            try:
                sock.recv(2048)
            except TimeoutError:
                continue
            rtts.append(time.monotonic() - started)
    received = len(rtts)
    return {"sent": count, "received": received, "loss_percent": 100.0 * (count - received) / count,
            "rtts": rtts, "min": min(rtts) if rtts else None,
            "avg": sum(rtts) / received if rtts else None, "max": max(rtts) if rtts else None}
