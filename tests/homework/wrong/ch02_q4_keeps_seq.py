"""q4 with one mistake: the dict holds (seq, x, y) for each player instead of the position (x, y)."""
QUESTION = "02_udp.q4"
EXPECT = {"fails": ["plain"], "hint": "shape"}
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
        if player not in newest or 0 < (seq - newest[player][0]) % 65536 < 32768:
            newest[player] = (seq, x, y)
    return newest
