"""q2 with one mistake: a reset is caught and turned into an error of another kind."""
QUESTION = "01_tcp.q2"
EXPECT = {"fails": ["reset"], "hint": "reset-ends", "passes": ["pipelined"]}


def answer(conn):
    store, buffer = {}, b""
    while True:
        try:
            data = conn.recv(4096)
        except ConnectionResetError:
            raise RuntimeError("the client went away")
        if not data:
            return
        buffer += data
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            words = line.rstrip(b"\r").split(b" ", 2)
            if words[0] == b"SET" and len(words) == 3:
                store[words[1]] = words[2]
                reply = b"OK"
            elif words[0] == b"GET" and len(words) == 2:
                reply = b"VALUE " + store[words[1]] if words[1] in store else b"NOT-FOUND"
            else:
                reply = b"ERR unknown command"
            try:
                conn.sendall(reply + b"\n")
            except (ConnectionResetError, BrokenPipeError):
                raise RuntimeError("the client went away")
        if len(buffer) >= 1024:
            conn.sendall(b"ERR line too long\n")
            return
