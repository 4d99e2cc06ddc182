"""q3 with one mistake: /proc/self/<fd> read, without the fd folder, where no such link is."""
QUESTION = "00_history.q3"
EXPECT = {"fails": ["sockets", "pipe", "file"], "hint": "readlink", "passes": ["closed"]}
import os


def answer(fd):
    link = os.readlink(f"/proc/self/{fd}")
    if link.startswith("socket:"):
        return "socket"
    if link.startswith("pipe:"):
        return "pipe"
    return "file"
