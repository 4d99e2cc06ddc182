"""q1 with one mistake: only RFC 433's well-known sockets taken for send sockets."""
QUESTION = "00_history.q1"
EXPECT = {"fails": ["any-number"], "hint": "any-odd", "passes": ["rfc433", "send", "receive"]}

WELL_KNOWN = {1, 3, 5, 7, 9, 19}


def answer(name):
    return name & 0xFF


def is_send_socket(number):
    return number in WELL_KNOWN
