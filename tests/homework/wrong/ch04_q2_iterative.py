"""q2 with one mistake: one client at a time, served with blocking recv() until it leaves."""
QUESTION = "04_async.q2"
EXPECT = {"fails": ["ten"], "hint": "never-wait", "only": ["ten"]}


def answer(listener, stop):
    listener.settimeout(0.1)
    while not stop.is_set():
        try:
            conn, _ = listener.accept()
        except TimeoutError:
            continue
        with conn:
            conn.settimeout(None)
            buffer, count = b"", 0
            while not stop.is_set():
                data = conn.recv(65536)
                if not data:
                    break
                *lines, buffer = (buffer + data).split(b"\n")
                for line in lines:
                    count += 1
                    conn.sendall(b"%d %s\n" % (count, line.upper()))
