"""q1 with one mistake: the top 8 bits taken, the host, where the AEN is the bottom 8."""
QUESTION = "00_history.q1"
EXPECT = {"fails": ["rfc433", "site-bits"], "hint": "last-8-bits", "passes": ["send", "receive"]}


def answer(name):
    return name >> 32


def is_send_socket(number):
    return number % 2 == 1
