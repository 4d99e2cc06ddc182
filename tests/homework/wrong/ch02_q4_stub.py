"""q4 as the student copy has it: the stub, not attempted yet."""
QUESTION = "02_udp.q4"
EXPECT = {"status": "not-attempted"}


def answer(sock, duration):
    raise NotImplementedError("q4: write latest_positions")
