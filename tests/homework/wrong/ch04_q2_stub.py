"""q2 as the student copy has it: the stub, not attempted yet."""
QUESTION = "04_async.q2"
EXPECT = {"status": "not-attempted"}


def answer(listener, stop):
    raise NotImplementedError("q2: write serve_shout")
