"""q1 with one mistake: the last two hex digits returned as text ('07'), not as a number."""
QUESTION = "00_history.q1"
EXPECT = {"fails": ["rfc433", "site-bits"], "hint": "int", "passes": ["send", "receive"]}


def answer(name):
    return hex(name)[-2:]


def is_send_socket(number):
    return number % 2 == 1
