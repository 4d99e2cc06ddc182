"""q4 with one mistake: the update that arrived last wins, whatever its sequence number."""
QUESTION = "02_udp.q4"
EXPECT = {"fails": ["reorder"], "hint": "newest-wins", "passes": ["plain", "loss"]}
import struct
import time

UPDATE = struct.Struct("!HHff")


def answer(sock, duration):
    deadline = time.monotonic() + duration
    positions = {}
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            data = sock.recv(2048)
        except TimeoutError:
            break
        if len(data) == UPDATE.size:
            player, seq, x, y = UPDATE.unpack(data)
            positions[player] = (x, y)
    return positions
