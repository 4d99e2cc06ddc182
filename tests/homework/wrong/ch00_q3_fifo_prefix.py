"""q3 with one mistake: a pipe's link taken to start with 'fifo:', so pipes come back as files."""
QUESTION = "00_history.q3"
EXPECT = {"fails": ["pipe"], "hint": "how-it-starts", "passes": ["sockets", "file", "kept-open"]}
import os


def answer(fd):
    link = os.readlink(f"/proc/self/fd/{fd}")
    if link.startswith("socket:"):
        return "socket"
    if link.startswith("fifo:"):
        return "pipe"
    return "file"
