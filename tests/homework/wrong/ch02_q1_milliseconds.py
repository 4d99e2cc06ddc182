"""q1 with one mistake: the RTTs are reported in milliseconds, as the ping program prints them."""
QUESTION = "02_udp.q1"
EXPECT = {"fails": ["duplicate", "stats"], "hint": "shape", "passes": ["all-lost"]}
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
                    pong = sock.recv(2048)
                except TimeoutError:
                    break
                if pong == message:
                    rtts.append(1000 * (time.monotonic() - started))
                    break
    received = len(rtts)
    return {"sent": count, "received": received, "loss_percent": 100.0 * (count - received) / count,
            "rtts": rtts, "min": min(rtts) if rtts else None,
            "avg": sum(rtts) / received if rtts else None, "max": max(rtts) if rtts else None}
