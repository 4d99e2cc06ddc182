"""q4 with one mistake: it polls with a fixed timeout and looks at the clock only between receives."""
QUESTION = "02_udp.q4"
EXPECT = {"fails": ["steady"], "hint": "duration", "only": ["steady"]}
import struct
import time

UPDATE = struct.Struct("!HHff")


def answer(sock, duration):
    deadline = time.monotonic() + duration
    newest = {}
    sock.settimeout(0.25)
    while time.monotonic() < deadline:
        try:
            data = sock.recv(2048)
        except TimeoutError:
            continue
        if len(data) != UPDATE.size:
            continue
        player, seq, x, y = UPDATE.unpack(data)
        if player not in newest or 0 < (seq - newest[player][0]) % 65536 < 32768:
            newest[player] = (seq, (x, y))
    return {player: position for player, (seq, position) in newest.items()}
