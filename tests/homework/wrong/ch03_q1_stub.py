"""q1 as the student copy has it: the stub, not attempted yet."""
QUESTION = "03_unix.q1"
EXPECT = {"status": "not-attempted"}


def answer(path):
    raise NotImplementedError("q1: write bind_unix")
