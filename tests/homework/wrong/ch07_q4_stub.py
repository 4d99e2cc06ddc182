"""q4 not written yet: the stub raises NotImplementedError."""
QUESTION = "07_options.q4"
EXPECT = {"status": "not-attempted", "only": ["listening"]}
def answer(address, timeout):
    raise NotImplementedError("q4: write connect_result")
