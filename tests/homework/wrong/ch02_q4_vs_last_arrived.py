"""q4 with one mistake: each update is compared with the one that arrived last, not with the one kept."""
QUESTION = "02_udp.q4"
EXPECT = {"fails": ["reorder"], "hint": "newest-wins", "passes": ["plain", "loss"]}
import struct
import time

UPDATE = struct.Struct("!HHff")


def answer(sock, duration):
    deadline = time.monotonic() + duration
    positions, last_seq = {}, {}
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            data = sock.recv(2048)
        except TimeoutError:
            break
        if len(data) != UPDATE.size:
            continue
        player, seq, x, y = UPDATE.unpack(data)
        if player not in last_seq or 0 < (seq - last_seq[player]) % 65536 < 32768:
            positions[player] = (x, y)
        last_seq[player] = seq
    return positions
