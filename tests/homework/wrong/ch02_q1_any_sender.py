"""q1 with one mistake: an unconnected socket that takes a matching pong from any sender."""
QUESTION = "02_udp.q1"
EXPECT = {"fails": ["stranger"], "hint": "sender", "passes": ["plain", "late"]}
import socket
import time


def answer(address, count=10, timeout=0.5):
    rtts = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for seq in range(1, count + 1):
            message = f"PING {seq} {time.time()}".encode()
            started = time.monotonic()
            deadline = started + timeout
            sock.sendto(message, address)
            while (left := deadline - time.monotonic()) > 0:
                sock.settimeout(left)
                try:
                    pong, sender = sock.recvfrom(2048)
                except TimeoutError:
                    break
                if int(pong.split()[1]) == seq:
                    rtts.append(time.monotonic() - started)
                    break
    received = len(rtts)
    return {"sent": count, "received": received, "loss_percent": 100.0 * (count - received) / count,
            "rtts": rtts, "min": min(rtts) if rtts else None,
            "avg": sum(rtts) / received if rtts else None, "max": max(rtts) if rtts else None}
