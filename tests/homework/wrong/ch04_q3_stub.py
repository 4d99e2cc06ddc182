"""q3 as the student copy has it: the stub, not attempted yet."""
QUESTION = "04_async.q3"
EXPECT = {"status": "not-attempted"}


class answer:
    def __init__(self):
        self.users = {}

    async def handle(self, reader, writer):
        raise NotImplementedError("q3: write ChatRoom")
