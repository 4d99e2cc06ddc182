"""q1 with one mistake: one recv() is taken to bring exactly one whole line."""
QUESTION = "04_async.q1"
EXPECT = {"fails": ["pieces"], "hint": "whole-line", "passes": ["one-line"]}


class answer:
    def __init__(self, sock):
        self.sock = sock
        self.buffer = b""

    def readline(self, timeout):
        self.sock.settimeout(timeout)
        return self.sock.recv(4096)
