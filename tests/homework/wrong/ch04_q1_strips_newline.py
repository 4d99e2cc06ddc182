"""q1 with one mistake: the line comes back without its b'\\n', so an empty line looks like the end."""
QUESTION = "04_async.q1"
EXPECT = {"fails": ["one-line", "two-in-one"], "hint": "whole-line", "passes": []}
import time


class answer:
    def __init__(self, sock):
        self.sock = sock
        self.buffer = b""

    def readline(self, timeout):
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no line in time")
            self.sock.settimeout(left)
            data = self.sock.recv(4096)
            if not data:
                if self.buffer:
                    raise ConnectionError("the line was cut short")
                return b""
            self.buffer += data
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line
