"""q1 with one mistake: what came after the first newline is thrown away."""
QUESTION = "04_async.q1"
EXPECT = {"fails": ["two-in-one"], "hint": "keep-buffer", "passes": ["one-line", "pieces"]}
import time


class answer:
    def __init__(self, sock):
        self.sock = sock

    def readline(self, timeout):
        deadline = time.monotonic() + timeout
        data = b""
        while b"\n" not in data:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no line in time")
            self.sock.settimeout(left)
            piece = self.sock.recv(4096)
            if not piece:
                if data:
                    raise ConnectionError("cut short")
                return b""
            data += piece
        return data[:data.index(b"\n") + 1]
