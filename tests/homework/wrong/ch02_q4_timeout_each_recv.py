"""q4 with one mistake: settimeout(duration) before each recv, so every datagram extends the listening."""
QUESTION = "02_udp.q4"
EXPECT = {"fails": ["plain", "steady"], "hint": "duration", "only": ["plain", "steady"]}
import struct

UPDATE = struct.Struct("!HHff")


def answer(sock, duration):
    newest = {}
    while True:
        sock.settimeout(duration)
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
