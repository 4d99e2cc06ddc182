"""q1 with one mistake: at the end of the stream, the start of a line is returned as if it were whole."""
QUESTION = "04_async.q1"
EXPECT = {"fails": ["eof-mid-line"], "hint": "eof-mid-line", "passes": ["one-line", "eof-clean"]}
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
                rest, self.buffer = self.buffer, b""
                return rest
            self.buffer += data
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line + b"\n"
