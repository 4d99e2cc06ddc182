"""q1 with one mistake: no option at all, so every round waits for the server's delayed ACK."""
QUESTION = "07_options.q1"
EXPECT = {"fails": ["on", "rounds", "ipv6"], "hint": "nagle", "passes": ["unchanged"]}
def answer(sock):
    return None
