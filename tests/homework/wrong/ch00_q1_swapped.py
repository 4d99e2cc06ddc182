"""q1 with one mistake: even and odd swapped, as if even numbers sent."""
QUESTION = "00_history.q1"
EXPECT = {"fails": ["send", "receive", "any-number"], "hint": "lowest-bit", "passes": ["rfc433", "site-bits"]}


def answer(name):
    return name & 0xFF


def is_send_socket(number):
    return number % 2 == 0
