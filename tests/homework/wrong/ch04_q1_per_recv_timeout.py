"""q1 with one mistake: the timeout is given to each recv(), so a slow drip never runs out of time."""
QUESTION = "04_async.q1"
EXPECT = {"fails": ["slow-drip"], "hint": "overall-deadline",
          "passes": ["two-in-one", "keeps-bytes"]}


class answer:
    def __init__(self, sock):
        self.sock = sock
        self.buffer = b""

    def readline(self, timeout):
        self.sock.settimeout(timeout)
        while b"\n" not in self.buffer:
            data = self.sock.recv(4096)
            if not data:
                if self.buffer:
                    raise ConnectionError("the line was cut short")
                return b""
            self.buffer += data
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line + b"\n"
