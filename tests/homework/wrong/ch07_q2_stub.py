"""q2 not written yet: the stub raises NotImplementedError."""
QUESTION = "07_options.q2"
EXPECT = {"status": "not-attempted", "only": ["reset"]}
def answer(sock):
    raise NotImplementedError("q2: write abort")
