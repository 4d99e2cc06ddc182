"""q4 with one mistake: it listens until the port has been quiet for 0.1 s, not for `duration`."""
QUESTION = "02_udp.q4"
EXPECT = {"fails": ["plain", "loss"], "hint": "duration", "only": ["plain", "loss"]}
import struct

UPDATE = struct.Struct("!HHff")


def answer(sock, duration):
    sock.settimeout(0.1)
    newest = {}
    while True:
        try:
            data = sock.recv(2048)
        except TimeoutError:
            break
        if len(data) != UPDATE.size:
            continue
        player, seq, x, y = UPDATE.unpack(data)
        if player not in newest or 0 < (seq - newest[player][0]) % 65536 < 32768:
            newest[player] = (seq, (x, y))
    return {player: position for player, (seq, position) in newest.items()}
