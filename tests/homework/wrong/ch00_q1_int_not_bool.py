"""q1 with one mistake: number % 2 returned as it is, the int 1 or 0, not True or False."""
QUESTION = "00_history.q1"
EXPECT = {"fails": ["send", "receive"], "hint": "bool", "passes": ["rfc433"]}


def answer(name):
    return name & 0xFF


def is_send_socket(number):
    return number % 2
