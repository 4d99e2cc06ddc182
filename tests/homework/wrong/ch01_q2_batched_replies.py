"""q2 with one mistake: replies are sent ten at a time, and the last few are forgotten at the end."""
QUESTION = "01_tcp.q2"
EXPECT = {"fails": ["half-close"], "hint": "eof-ends-commands", "passes": ["pipelined"],
          "only": ["half-close", "pipelined"]}


def answer(conn):
    store, buffer, pending = {}, b"", []
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
                pending.append(b"OK")
            elif words[0] == b"GET" and len(words) == 2:
                pending.append(b"VALUE " + store[words[1]] if words[1] in store else b"NOT-FOUND")
            else:
                pending.append(b"ERR unknown command")
            if len(pending) == 10:
                conn.sendall(b"".join(p + b"\n" for p in pending))
                pending = []
