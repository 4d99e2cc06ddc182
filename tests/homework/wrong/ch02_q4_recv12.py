"""q4 with one mistake: recv(12), so a longer datagram is cut down to 12 bytes and taken for an update."""
QUESTION = "02_udp.q4"
EXPECT = {"fails": ["garbage"], "hint": "garbage", "passes": ["plain", "reorder"]}
import struct
import time

UPDATE = struct.Struct("!HHff")


def answer(sock, duration):
    deadline = time.monotonic() + duration
    newest = {}
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            data = sock.recv(UPDATE.size)
        except TimeoutError:
            break
        if len(data) != UPDATE.size:
            continue
        player, seq, x, y = UPDATE.unpack(data)
        if player not in newest or 0 < (seq - newest[player][0]) % 65536 < 32768:
            newest[player] = (seq, (x, y))
    return {player: position for player, (seq, position) in newest.items()}
