"""q1 as the student copy has it: the stub, not attempted yet."""
QUESTION = "04_async.q1"
EXPECT = {"status": "not-attempted"}


class answer:
    def __init__(self, sock):
        self.sock = sock
        self.buffer = b""

    def readline(self, timeout):
        raise NotImplementedError("q1: write LineReader")
