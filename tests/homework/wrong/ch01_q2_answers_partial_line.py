"""q2 with one mistake: at the end, the unfinished last line is answered as if it were whole."""
QUESTION = "01_tcp.q2"
EXPECT = {"fails": ["no-newline"], "hint": "incomplete-line", "passes": ["pipelined", "half-close"]}


def answer(conn):
    store, buffer = {}, b""

    def reply_to(line):
        words = line.rstrip(b"\r").split(b" ", 2)
        if words[0] == b"SET" and len(words) == 3:
            store[words[1]] = words[2]
            return b"OK\n"
        if words[0] == b"GET" and len(words) == 2:
            return (b"VALUE " + store[words[1]] if words[1] in store else b"NOT-FOUND") + b"\n"
        return b"ERR unknown command\n"

    while True:
        data = conn.recv(4096)
        if not data:
            if buffer:
                conn.sendall(reply_to(buffer))
            return
        buffer += data
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            conn.sendall(reply_to(line))
        if len(buffer) >= 1024:
            conn.sendall(b"ERR line too long\n")
            return
