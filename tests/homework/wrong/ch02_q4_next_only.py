"""q4 with one mistake: only the very next sequence number is accepted, so after a loss a player freezes."""
QUESTION = "02_udp.q4"
EXPECT = {"fails": ["loss"], "hint": "gaps", "passes": ["plain", "steady"]}
import struct
import time

UPDATE = struct.Struct("!HHff")


def answer(sock, duration):
    deadline = time.monotonic() + duration
    newest = {}
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            data = sock.recv(2048)
        except TimeoutError:
            break
        if len(data) != UPDATE.size:
            continue
        player, seq, x, y = UPDATE.unpack(data)
        if player not in newest or seq == (newest[player][0] + 1) % 65536:
            newest[player] = (seq, (x, y))
    return {player: position for player, (seq, position) in newest.items()}
