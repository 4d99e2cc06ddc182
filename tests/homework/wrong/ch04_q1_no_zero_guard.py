"""q1 with one mistake: the time left goes to settimeout() even when it is 0 or less."""
QUESTION = "04_async.q1"
EXPECT = {"fails": ["zero-timeout"], "hint": "zero-timeout",
          "passes": ["two-in-one", "keeps-bytes"]}
import time


class answer:
    def __init__(self, sock):
        self.sock = sock
        self.buffer = b""

    def readline(self, timeout):
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buffer:
            self.sock.settimeout(deadline - time.monotonic())
            data = self.sock.recv(4096)
            if not data:
                if self.buffer:
                    raise ConnectionError("the line was cut short")
                return b""
            self.buffer += data
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line + b"\n"
