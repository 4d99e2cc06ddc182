"""q3 with one mistake: the kind found anywhere in the link, so a file named 'socket:[...]' is a socket."""
QUESTION = "00_history.q3"
EXPECT = {"fails": ["named-like"], "hint": "starts-not-contains",
          "passes": ["sockets", "pipe", "file", "kept-open", "closed"]}
import os


def answer(fd):
    link = os.readlink(f"/proc/self/fd/{fd}")
    if "socket" in link:
        return "socket"
    if "pipe" in link:
        return "pipe"
    return "file"
