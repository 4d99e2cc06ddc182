"""q3 with one mistake: each SEND is paced with time.sleep(), which holds up the whole loop every time."""
QUESTION = "04_async.q3"
EXPECT = {"fails": ["slow-consumer"], "hint": "slow-deliveries", "passes": ["login"]}
import time


class answer:
    """A chat room: every connection is one user; the users are shared by all of them."""

    def __init__(self):
        self.users = {}  # name -> the writer of that user's connection

    async def handle(self, reader, writer):
        limit = 1 << 20  # bytes that may wait for one user before it counts as too slow
        name = None
        try:
            words = (await reader.readline()).split()
            if len(words) != 2 or words[0] != b"HELLO-FROM":
                return
            if words[1].decode() in self.users:
                writer.write(b"IN-USE\n")
                return
            name = words[1].decode()
            self.users[name] = writer
            writer.write(b"HELLO " + words[1] + b"\n")
            await writer.drain()
            while line := await reader.readline():
                command, _, rest = line.rstrip(b"\r\n").partition(b" ")
                if command == b"SEND":
                    delivery = b"DELIVERY " + name.encode() + b" " + rest + b"\n"
                    for other, out in list(self.users.items()):
                        if other == name:
                            continue
                        if out.transport.get_write_buffer_size() > limit:
                            out.transport.abort()  # too slow: dropped at once, never waited for
                            del self.users[other]
                        else:
                            out.write(delivery)
                    writer.write(b"SEND-OK\n")
                    time.sleep(0.002)  # at most 500 messages a second, so nobody is flooded
                elif command == b"LIST":
                    writer.write(b"LIST-OK " + ",".join(self.users).encode() + b"\n")
                await writer.drain()  # only our own writer: if we are slow, only we wait
        finally:
            if name is not None and self.users.get(name) is writer:
                del self.users[name]
