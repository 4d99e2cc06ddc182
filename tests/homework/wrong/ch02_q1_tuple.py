"""q1 with one mistake: the report is a tuple, not the dict the exercise asks for."""
QUESTION = "02_udp.q1"
EXPECT = {"fails": ["plain"], "hint": "shape"}
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
                if sock.recv(2048) == message:
                    rtts.append(time.monotonic() - started)
            except TimeoutError:
                pass
    received = len(rtts)
    return (count, received, 100.0 * (count - received) / count, rtts)
