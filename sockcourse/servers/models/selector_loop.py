"""Model 3, one thread and `selectors`: the kernel says which sockets are ready (epoll, kqueue, ...)."""

import selectors
import socket

CHUNK = 65536
TICK = 0.1
READ, WRITE = selectors.EVENT_READ, selectors.EVENT_WRITE


def serve(listener: socket.socket, stop) -> None:
    """Serve every client from this one thread, never blocking on any of them, until `stop` is set."""
    listener.setblocking(False)
    unsent = {}  # each client's socket -> bytes it has sent that we have not echoed yet
    with selectors.DefaultSelector() as selector:
        selector.register(listener, READ)
        try:
            while not stop.is_set():
                for key, events in selector.select(timeout=TICK):  # the one place we wait
                    if key.fileobj is listener:
                        accept(listener, selector, unsent)
                    else:
                        talk(key, events, selector, unsent)
        finally:
            for conn in unsent:
                conn.close()


def accept(listener, selector, unsent) -> None:
    for _ in range(64):  # take what the accept queue holds, a bounded number at a time
        try:
            conn, _ = listener.accept()
        except BlockingIOError:
            return  # the queue is empty
        conn.setblocking(False)
        selector.register(conn, READ)
        unsent[conn] = b""


def talk(key, events, selector, unsent) -> None:
    conn = key.fileobj
    try:
        if events & READ:
            data = conn.recv(CHUNK)  # ready, so it returns at once
            if not data:  # the client closed, and we owe it nothing: close too
                return close(conn, selector, unsent)
            unsent[conn] += data
        if unsent[conn]:
            sent = conn.send(unsent[conn])  # as much as fits now; the rest waits for WRITE
            unsent[conn] = unsent[conn][sent:]
    except BlockingIOError:
        pass
    except OSError:
        return close(conn, selector, unsent)
    # Read again only once all is echoed: a client that never reads cannot make us hoard its bytes.
    wanted = WRITE if unsent[conn] else READ
    if key.events != wanted:
        selector.modify(conn, wanted)


def close(conn, selector, unsent) -> None:
    selector.unregister(conn)
    del unsent[conn]
    conn.close()
