"""q1 with one mistake: a datagram that is not the pong starts a full timeout again, instead of the time left."""
QUESTION = "02_udp.q1"
EXPECT = {"fails": ["late", "stranger"], "hint": "deadline", "passes": ["plain", "duplicate"]}
import socket
import time


def answer(address, count=10, timeout=0.5):
    rtts = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for seq in range(1, count + 1):
            message = f"PING {seq} {time.time()}".encode()
            started = time.monotonic()
            sock.sendto(message, address)
            while True:
                sock.settimeout(timeout)
                try:
                    pong, sender = sock.recvfrom(2048)
                except TimeoutError:
                    break
                if pong == message and sender == address:
                    rtts.append(time.monotonic() - started)
                    break
    received = len(rtts)
    return {"sent": count, "received": received, "loss_percent": 100.0 * (count - received) / count,
            "rtts": rtts, "min": min(rtts) if rtts else None,
            "avg": sum(rtts) / received if rtts else None, "max": max(rtts) if rtts else None}
