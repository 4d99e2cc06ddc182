"""q1 not written yet: the stub raises NotImplementedError."""
QUESTION = "07_options.q1"
EXPECT = {"status": "not-attempted", "only": ["on"]}
def answer(sock):
    raise NotImplementedError("q1: write quick")
