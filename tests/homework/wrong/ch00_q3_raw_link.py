"""q3 with one mistake: the link itself returned ('socket:[12345]'), not the kind it names."""
QUESTION = "00_history.q3"
EXPECT = {"fails": ["sockets", "pipe", "file"], "hint": "words", "passes": ["kept-open", "closed"]}
import os


def answer(fd):
    return os.readlink(f"/proc/self/fd/{fd}")
