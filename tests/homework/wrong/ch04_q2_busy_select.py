"""q2 with one mistake: select(timeout=0) never waits, so the loop spins and keeps a CPU busy while nobody talks."""
QUESTION = "04_async.q2"
EXPECT = {"fails": ["idle"], "hint": "spin", "passes": ["ten"]}
import selectors


def answer(listener, stop):
    listener.setblocking(False)
    inbox, outbox, count = {}, {}, {}  # each client's unfinished line, the answers it is owed, its lines so far

    with selectors.DefaultSelector() as selector:
        def close(conn):
            selector.unregister(conn)
            del inbox[conn], outbox[conn], count[conn]
            conn.close()

        selector.register(listener, selectors.EVENT_READ)
        try:
            while not stop.is_set():
                for key, events in selector.select(timeout=0):  # never block: the loop must keep going
                    conn = key.fileobj
                    if conn is listener:
                        for _ in range(64):
                            try:
                                conn, _ = listener.accept()
                            except BlockingIOError:
                                break
                            conn.setblocking(False)
                            selector.register(conn, selectors.EVENT_READ)
                            inbox[conn], outbox[conn], count[conn] = b"", bytearray(), 0
                        continue
                    try:
                        if events & selectors.EVENT_READ:
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
                        continue
                    # Owed answers first: a client that does not read must not make us hoard its lines.
                    wanted = selectors.EVENT_WRITE if outbox[conn] else selectors.EVENT_READ
                    if key.events != wanted:
                        selector.modify(conn, wanted)
        finally:
            for conn in list(inbox):
                conn.close()
