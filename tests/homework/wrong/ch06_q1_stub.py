"""q1 not written yet: the stub raises NotImplementedError."""
QUESTION = "06_languages.q1"
EXPECT = {"status": "not-attempted", "only": ["ascii"]}


def answer(sock, text):
    raise NotImplementedError("q1: write write_utf")


def read_utf(sock):
    raise NotImplementedError("q1: write read_utf")
