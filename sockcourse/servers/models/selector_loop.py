"""Model 3, one thread and `selectors`: the kernel says which sockets are ready (epoll, kqueue, ...).

Chapter 04 shows these functions in three cells, word for word (tests/test_models.py checks it).
"""

import selectors
import socket

CHUNK = 65536
TICK = 0.1
READ, WRITE = selectors.EVENT_READ, selectors.EVENT_WRITE


def serve_selectors(listener: socket.socket, stop) -> None:
    """Serve every client from this one thread, never blocking on any of them, until `stop` is set."""
    listener.setblocking(False)
    unsent = {}  # each client's socket -> bytes it has sent that we have not echoed yet
    with selectors.DefaultSelector() as selector:
        selector.register(listener, READ)
        try:
            while not stop.is_set():
                for key, events in selector.select(timeout=TICK):  # the one place we wait
                    if key.fileobj is listener:
                        accept_waiting(listener, selector, unsent)
                    else:
                        talk_when_ready(key, events, selector, unsent)
        finally:
            for conn in unsent:
                conn.close()


def accept_waiting(listener, selector, unsent) -> None:
    """Take the clients waiting in the accept queue (a bounded number at a time) and watch each."""
    for _ in range(64):
        try:
            conn, _ = listener.accept()
        except BlockingIOError:
            return  # the queue is empty
        conn.setblocking(False)
        selector.register(conn, READ)
        unsent[conn] = b""


def talk_when_ready(key, events, selector, unsent) -> None:
    """Read what a ready client sent, echo what fits, and say what to wait for next."""
    conn = key.fileobj
    try:
        if events & READ:
            data = conn.recv(CHUNK)  # ready, so it returns at once
            if not data:  # the client closed, and we owe it nothing: close too
                return hang_up(conn, selector, unsent)
            unsent[conn] += data
        if unsent[conn]:
            sent = conn.send(unsent[conn])  # as much as fits now; the rest waits for WRITE
            unsent[conn] = unsent[conn][sent:]
    except BlockingIOError:
        pass
    except OSError:
        return hang_up(conn, selector, unsent)
    # Read again only once all is echoed: a client that never reads cannot make us hoard its bytes.
    wanted = WRITE if unsent[conn] else READ
    if key.events != wanted:
        selector.modify(conn, wanted)


def hang_up(conn, selector, unsent) -> None:
    selector.unregister(conn)
    del unsent[conn]
    conn.close()


serve = serve_selectors  # the name the harness looks for
