"""q1 with one mistake: at the deadline it returns the bytes it has instead of raising TimeoutError."""
QUESTION = "04_async.q1"
EXPECT = {"fails": ["slow-drip"], "hint": "raise-timeout", "passes": ["one-line", "eof-clean"]}
import time


class answer:
    def __init__(self, sock):
        self.sock = sock
        self.buffer = b""

    def readline(self, timeout):
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buffer:
            left = deadline - time.monotonic()
            try:
                if left <= 0:
                    raise TimeoutError()
                self.sock.settimeout(left)
                data = self.sock.recv(4096)
            except TimeoutError:
                partial, self.buffer = self.buffer, b""
                return partial
            if not data:
                if self.buffer:
                    raise ConnectionError("the line was cut short")
                return b""
            self.buffer += data
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line + b"\n"
