"""q3 not written yet: the stub raises NotImplementedError."""
QUESTION = "06_languages.q3"
EXPECT = {"status": "not-attempted", "only": ["mild"]}


def answer(sock):
    raise NotImplementedError("q3: write parse_readings")
