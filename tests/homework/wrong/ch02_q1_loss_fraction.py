"""q1 with one mistake: loss_percent is given as a fraction (0.25) instead of a percentage (25.0)."""
QUESTION = "02_udp.q1"
EXPECT = {"fails": ["loss", "late", "stats"], "hint": "stats", "passes": ["plain"]}
import socket
import time


def answer(address, count=10, timeout=0.5):
    rtts = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.connect(address)
        for seq in range(1, count + 1):
            message = f"PING {seq} {time.time()}".encode()
            started = time.monotonic()
            deadline = started + timeout
            sock.send(message)
            while (left := deadline - time.monotonic()) > 0:
                sock.settimeout(left)
                try:
                    if sock.recv(2048) == message:
                        rtts.append(time.monotonic() - started)
                        break
                except TimeoutError:
                    break
    received = len(rtts)
    return {"sent": count, "received": received, "loss_percent": (count - received) / count,
            "rtts": rtts, "min": min(rtts) if rtts else None,
            "avg": sum(rtts) / received if rtts else None, "max": max(rtts) if rtts else None}
