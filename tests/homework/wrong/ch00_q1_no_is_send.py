"""q1 half done: aen is written, but is_send_socket is still the stub."""
QUESTION = "00_history.q1"
EXPECT = {"fails": ["send", "receive"], "hint": "both-functions", "passes": ["rfc433", "site-bits"]}


def answer(name):
    return name & 0xFF


def is_send_socket(number):
    raise NotImplementedError("q1: write is_send_socket")
