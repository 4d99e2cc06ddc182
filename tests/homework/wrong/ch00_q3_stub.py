"""q3 not written yet: the stub raises NotImplementedError."""
QUESTION = "00_history.q3"
EXPECT = {"status": "not-attempted", "only": ["sockets"]}


def answer(fd):
    raise NotImplementedError("q3: write kind_of")
