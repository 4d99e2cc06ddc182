"""q1 as the student copy has it: the stub, not attempted yet."""
QUESTION = "01_tcp.q1"
EXPECT = {"status": "not-attempted"}


def answer(sock):
    raise NotImplementedError("q1: write read_frames")
