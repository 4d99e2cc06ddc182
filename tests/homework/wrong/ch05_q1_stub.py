"""q1 not written yet: the stub still raises NotImplementedError."""
QUESTION = "05_tls.q1"
EXPECT = {"status": "not-attempted", "only": ["good"]}


def answer(cafile):
    raise NotImplementedError("q1: write make_client_context")
