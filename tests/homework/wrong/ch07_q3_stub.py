"""q3 not written yet: the stub raises NotImplementedError."""
QUESTION = "07_options.q3"
EXPECT = {"status": "not-attempted", "only": ["time-wait"]}
def answer(port):
    raise NotImplementedError("q3: write listen_again")
