"""q1 as the student copy has it: the stub, not attempted yet."""
QUESTION = "02_udp.q1"
EXPECT = {"status": "not-attempted"}


def answer(address, count=10, timeout=0.5):
    raise NotImplementedError("q1: write ping")
