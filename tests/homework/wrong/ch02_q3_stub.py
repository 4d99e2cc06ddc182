"""q3 as the student copy has it: the stub, not attempted yet."""
QUESTION = "02_udp.q3"
EXPECT = {"status": "not-attempted"}


def answer(address, timeout=0.5):
    raise NotImplementedError("q3: write probe_udp")
