"""q2 with one mistake: each recv() is taken to be exactly one command."""
QUESTION = "01_tcp.q2"
EXPECT = {"fails": ["pipelined", "chunk1"], "hint": "keep-buffer", "passes": ["one-by-one"]}


def answer(conn):
    store = {}
    while True:
        data = conn.recv(4096)
        if not data:
            return
        words = data.rstrip(b"\n").rstrip(b"\r").split(b" ", 2)
        if words[0] == b"SET" and len(words) == 3:
            store[words[1]] = words[2]
            reply = b"OK"
        elif words[0] == b"GET" and len(words) == 2:
            reply = b"VALUE " + store[words[1]] if words[1] in store else b"NOT-FOUND"
        else:
            reply = b"ERR unknown command"
        conn.sendall(reply + b"\n")
        if len(data) >= 1024:
            conn.sendall(b"ERR line too long\n")
            return
