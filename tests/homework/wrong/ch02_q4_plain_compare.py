"""q4 with one mistake: sequence numbers are compared with a plain `>`, so 0 after 65535 looks old."""
QUESTION = "02_udp.q4"
EXPECT = {"fails": ["wrap"], "hint": "wrap", "passes": ["plain", "reorder"]}
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
        if player not in newest or seq > newest[player][0]:
            newest[player] = (seq, (x, y))
    return {player: position for player, (seq, position) in newest.items()}
