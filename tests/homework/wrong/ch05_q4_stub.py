"""q4 not written yet: the stub still raises NotImplementedError."""
QUESTION = "05_tls.q4"
EXPECT = {"status": "not-attempted", "only": ["right-pin"]}


def answer(address, cafile, pin):
    raise NotImplementedError("q4: write connect_pinned")
