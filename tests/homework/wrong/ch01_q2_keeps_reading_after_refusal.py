"""q2 with one mistake: after 'ERR line too long' it throws the line away and goes on reading."""
QUESTION = "01_tcp.q2"
EXPECT = {"fails": ["too-long"], "hint": "line-limit", "passes": ["pipelined"], "only": ["too-long", "pipelined"]}


def answer(conn):
    store, buffer = {}, b""
    while True:
        data = conn.recv(4096)
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
            conn.sendall(reply + b"\n")
        if len(buffer) >= 1024:
            conn.sendall(b"ERR line too long\n")
            buffer = b""
