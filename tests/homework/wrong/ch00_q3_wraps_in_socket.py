"""q3 with one mistake: a socket object made on the descriptor to test it, which closes it when it goes away."""
QUESTION = "00_history.q3"
EXPECT = {"fails": ["kept-open"], "hint": "keep-open", "passes": ["sockets", "pipe", "file"]}
import os
import socket


def answer(fd):
    try:
        socket.socket(fileno=fd)  # raises OSError unless fd is a socket
        return "socket"
    except OSError:
        pass
    if os.readlink(f"/proc/self/fd/{fd}").startswith("pipe:"):
        return "pipe"
    return "file"
