"""q4 with one mistake: every datagram is unpacked as an update, whatever its size."""
QUESTION = "02_udp.q4"
EXPECT = {"fails": ["garbage"], "hint": "garbage", "passes": ["plain"]}
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
        player, seq, x, y = UPDATE.unpack(data)
        if player not in newest or 0 < (seq - newest[player][0]) % 65536 < 32768:
            newest[player] = (seq, (x, y))
    return {player: position for player, (seq, position) in newest.items()}
