"""q1 not written yet: both stubs raise NotImplementedError."""
QUESTION = "00_history.q1"
EXPECT = {"status": "not-attempted", "only": ["rfc433"]}


def answer(name):
    raise NotImplementedError("q1: write aen")


def is_send_socket(number):
    raise NotImplementedError("q1: write is_send_socket")
