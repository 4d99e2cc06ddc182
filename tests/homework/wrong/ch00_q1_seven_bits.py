"""q1 with one mistake: 0x7F keeps 7 bits, which every AEN of RFC 433's list fits in, but not all AENs."""
QUESTION = "00_history.q1"
EXPECT = {"fails": ["aen-high"], "hint": "all-8-bits", "passes": ["rfc433", "site-bits", "send", "receive"]}


def answer(name):
    return name & 0x7F


def is_send_socket(number):
    return number % 2 == 1
