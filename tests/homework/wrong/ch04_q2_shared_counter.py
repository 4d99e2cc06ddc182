"""q2 with one mistake: one line counter for all the clients, so a client's first answer may be number 3."""
QUESTION = "04_async.q2"
EXPECT = {"fails": ["ten", "pieces"], "hint": "numbering", "passes": ["backpressure"]}
import selectors


def answer(listener, stop):
    listener.setblocking(False)
    inbox, outbox = {}, {}  # each client's unfinished line, the answers it is owed
    count = 0  # lines answered so far

    with selectors.DefaultSelector() as selector:
        def close(conn):
            selector.unregister(conn)
            del inbox[conn], outbox[conn]
            conn.close()

        selector.register(listener, selectors.EVENT_READ)
        try:
            while not stop.is_set():
                for key, events in selector.select(timeout=0.1):
                    conn = key.fileobj
                    if conn is listener:
                        for _ in range(64):
                            try:
                                conn, _ = listener.accept()
                            except BlockingIOError:
                                break
                            conn.setblocking(False)
                            selector.register(conn, selectors.EVENT_READ)
                            inbox[conn], outbox[conn] = b"", bytearray()
                        continue
                    try:
                        if events & selectors.EVENT_READ:
                            data = conn.recv(65536)
                            if not data:
                                close(conn)
                                continue
                            *lines, inbox[conn] = (inbox[conn] + data).split(b"\n")
                            for line in lines:
                                count += 1
                                outbox[conn] += b"%d %s\n" % (count, line.upper())
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
