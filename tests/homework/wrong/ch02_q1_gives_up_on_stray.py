"""q1 with one mistake: a datagram that is not the awaited pong ends the wait, and the ping counts as lost."""
QUESTION = "02_udp.q1"
EXPECT = {"fails": ["duplicate"], "hint": "keep-waiting", "passes": ["plain", "late"]}
import socket
import time


def answer(address, count=10, timeout=0.5):
    rtts = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.connect(address)
        sock.settimeout(timeout)
        for seq in range(1, count + 1):
            message = f"PING {seq} {time.time()}".encode()
            started = time.monotonic()
            sock.send(message)
            try:
                pong = sock.recv(2048)
            except TimeoutError:
                continue
            if pong == message:
                rtts.append(time.monotonic() - started)
    received = len(rtts)
    return {"sent": count, "received": received, "loss_percent": 100.0 * (count - received) / count,
            "rtts": rtts, "min": min(rtts) if rtts else None,
            "avg": sum(rtts) / received if rtts else None, "max": max(rtts) if rtts else None}
