"""q1 with one mistake: only socket 1 (Telnet's) taken for a send socket."""
QUESTION = "00_history.q1"
EXPECT = {"fails": ["send"], "hint": "lowest-bit", "passes": ["rfc433", "receive"]}


def answer(name):
    return name & 0xFF


def is_send_socket(number):
    return number == 1
