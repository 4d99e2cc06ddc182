"""q1 with one mistake: b'' raises ConnectionError even between lines, where it is the clean end."""
QUESTION = "04_async.q1"
EXPECT = {"fails": ["eof-clean"], "hint": "eof-clean", "passes": ["one-line", "eof-mid-line"]}
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
                raise ConnectionError("the peer closed")
            self.buffer += data
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line + b"\n"
