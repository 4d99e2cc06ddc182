"""q3 with one mistake: any error of os.readlink() taken to mean 'a file', a closed descriptor too."""
QUESTION = "00_history.q3"
EXPECT = {"fails": ["closed"], "hint": "oserror", "passes": ["sockets", "pipe", "file", "kept-open"]}
import os


def answer(fd):
    try:
        link = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return "file"
    if link.startswith("socket:"):
        return "socket"
    if link.startswith("pipe:"):
        return "pipe"
    return "file"
