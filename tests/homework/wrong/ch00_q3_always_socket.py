"""q3 with one mistake: every descriptor taken for a socket, since sockets are what the course is about."""
QUESTION = "00_history.q3"
EXPECT = {"fails": ["pipe", "file"], "hint": "how-it-starts", "passes": ["sockets", "kept-open"]}


def answer(fd):
    return "socket"
