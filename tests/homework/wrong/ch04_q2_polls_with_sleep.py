"""q2 with one mistake: no selector; the loop sleeps 1 ms and then tries every socket, ready or not."""
QUESTION = "04_async.q2"
EXPECT = {"fails": ["idle"], "hint": "wait-in-select", "passes": ["ten", "one-thread"]}
import time


def answer(listener, stop):
    listener.setblocking(False)
    inbox, outbox, count = {}, {}, {}

    def close(conn):
        del inbox[conn], outbox[conn], count[conn]
        conn.close()

    try:
        while not stop.is_set():
            time.sleep(0.001)  # short enough that nobody notices the wait
            while True:
                try:
                    conn, _ = listener.accept()
                except BlockingIOError:
                    break
                conn.setblocking(False)
                inbox[conn], outbox[conn], count[conn] = b"", bytearray(), 0
            for conn in list(inbox):
                try:
                    if not outbox[conn]:
                        data = conn.recv(65536)
                        if not data:
                            close(conn)
                            continue
                        *lines, inbox[conn] = (inbox[conn] + data).split(b"\n")
                        for line in lines:
                            count[conn] += 1
                            outbox[conn] += b"%d %s\n" % (count[conn], line.upper())
                    if outbox[conn]:
                        del outbox[conn][:conn.send(outbox[conn])]
                except BlockingIOError:
                    pass
                except OSError:
                    close(conn)
    finally:
        for conn in list(inbox):
            conn.close()
