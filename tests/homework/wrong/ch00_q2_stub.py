"""q2 not written yet: the stub raises NotImplementedError."""
QUESTION = "00_history.q2"
EXPECT = {"status": "not-attempted", "only": ["known"]}


def answer(names):
    raise NotImplementedError("q2: write tcp_ports")
