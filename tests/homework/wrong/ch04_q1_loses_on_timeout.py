"""q1 with one mistake: the line is gathered in a local variable, so a TimeoutError throws its start away."""
QUESTION = "04_async.q1"
EXPECT = {"fails": ["keeps-bytes"], "hint": "keep-on-timeout",
          "passes": ["two-in-one", "zero-timeout"]}
import time


class answer:
    def __init__(self, sock):
        self.sock = sock
        self.buffer = b""

    def readline(self, timeout):
        deadline = time.monotonic() + timeout
        data, self.buffer = self.buffer, b""
        while b"\n" not in data:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no line in time")
            self.sock.settimeout(left)
            piece = self.sock.recv(4096)
            if not piece:
                if data:
                    raise ConnectionError("the line was cut short")
                return b""
            data += piece
        line, _, self.buffer = data.partition(b"\n")
        return line + b"\n"
