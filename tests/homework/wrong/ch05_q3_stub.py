"""q3 not written yet: the stub still raises NotImplementedError."""
QUESTION = "05_tls.q3"
EXPECT = {"status": "not-attempted", "only": ["clean"]}


def answer(address, cafile, request):
    raise NotImplementedError("q3: write fetch")
