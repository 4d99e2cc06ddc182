"""q2 with one mistake: the commands are collected and answered only once the client has closed."""
QUESTION = "01_tcp.q2"
EXPECT = {"fails": ["one-by-one"], "hint": "answer-at-once", "passes": ["half-close"]}


def answer(conn):
    store, data = {}, b""
    while True:
        piece = conn.recv(4096)
        if not piece:
            break
        data += piece
    replies = []
    for line in data.split(b"\n")[:-1]:
        words = line.rstrip(b"\r").split(b" ", 2)
        if words[0] == b"SET" and len(words) == 3:
            store[words[1]] = words[2]
            replies.append(b"OK")
        elif words[0] == b"GET" and len(words) == 2:
            replies.append(b"VALUE " + store[words[1]] if words[1] in store else b"NOT-FOUND")
        else:
            replies.append(b"ERR unknown command")
    conn.sendall(b"".join(r + b"\n" for r in replies))
