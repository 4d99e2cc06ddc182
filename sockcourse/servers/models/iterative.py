"""Model 1, the iterative server: one client at a time, from accept() to close().

Chapter 04 shows `serve_iterative` in a cell of its own, word for word
(tests/test_models.py checks that the two agree).
"""

import socket

CHUNK = 65536  # bytes asked of each recv()
TICK = 0.1     # accept() gives up this often, so the loop can look at `stop`
IDLE = 60.0    # a client silent this long is dropped: it must not hold the server forever


def serve_iterative(listener: socket.socket, stop) -> None:
    """Echo each client's bytes back, one client after the other, until `stop` is set."""
    listener.settimeout(TICK)
    while not stop.is_set():
        try:
            conn, _ = listener.accept()
        except TimeoutError:
            continue  # nobody came; look at `stop` again
        with conn:
            conn.settimeout(IDLE)
            try:
                while data := conn.recv(CHUNK):  # b"" once the client has closed
                    conn.sendall(data)
            except OSError:
                pass  # reset by the client, or silent for too long: on to the next one
        # Only now does the loop come back to accept(): every other client waited.


serve = serve_iterative  # the name the harness looks for
