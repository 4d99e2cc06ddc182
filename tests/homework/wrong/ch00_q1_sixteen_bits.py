"""q1 with one mistake: 16 bits kept (the size of a TCP port), so the site bits leak into the AEN."""
QUESTION = "00_history.q1"
EXPECT = {"fails": ["site-bits"], "hint": "last-8-bits", "passes": ["rfc433", "send", "receive"]}


def answer(name):
    return name & 0xFFFF


def is_send_socket(number):
    return number % 2 == 1
