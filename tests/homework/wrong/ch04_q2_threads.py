"""q2 with one mistake: a thread for each client (model 2), not one thread for all."""
QUESTION = "04_async.q2"
EXPECT = {"fails": ["one-thread"], "hint": "one-thread", "passes": ["ten", "pieces"]}
import socket
import threading


def answer(listener, stop):
    def talk(conn):
        with conn:
            buffer, count = b"", 0
            while True:
                try:
                    data = conn.recv(65536)
                except OSError:
                    return
                if not data:
                    return
                *lines, buffer = (buffer + data).split(b"\n")
                for line in lines:
                    count += 1
                    conn.sendall(b"%d %s\n" % (count, line.upper()))

    listener.settimeout(0.1)
    conns = []
    try:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            conn.settimeout(None)
            conns.append(conn)
            threading.Thread(target=talk, args=(conn,), daemon=True).start()
    finally:
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
