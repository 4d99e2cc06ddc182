"""q1 with one mistake: no timeout on the socket, so a lost pong is waited for forever."""
QUESTION = "02_udp.q1"
EXPECT = {"fails": ["late"], "hint": "timeout", "passes": ["plain"]}
import socket
import time


def answer(address, count=10, timeout=0.5):
    rtts = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.connect(address)
        for seq in range(1, count + 1):
            message = f"PING {seq} {time.time()}".encode()
            started = time.monotonic()
            sock.send(message)
            while sock.recv(2048) != message:
                pass
            rtts.append(time.monotonic() - started)
    received = len(rtts)
    return {"sent": count, "received": received, "loss_percent": 100.0 * (count - received) / count,
            "rtts": rtts, "min": min(rtts) if rtts else None,
            "avg": sum(rtts) / received if rtts else None, "max": max(rtts) if rtts else None}
