"""Chapter 01's answers, written as a student would; they must earn full marks under the graded checks."""

import socket
import struct


def read_frames(sock):
    def recv_exactly(size, at_start=False):
        chunks, missing = [], size
        while missing:
            chunk = sock.recv(min(missing, 65536))
            if not chunk:
                if at_start and missing == size:
                    return None
                raise ConnectionError(f"the peer closed with {missing} of {size} bytes still to come")
            chunks.append(chunk)
            missing -= len(chunk)
        return b"".join(chunks)

    while True:
        header = recv_exactly(5, at_start=True)
        if header is None:
            return
        kind, size = struct.unpack("!BI", header)
        if size > 1 << 20:
            raise ValueError(f"a frame announced {size} bytes, more than the 1 MiB limit")
        yield kind, recv_exactly(size) if size else b""


def kv_handler(conn):
    store, buffer = {}, b""
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
                reply = b"OK"
            elif words[0] == b"GET" and len(words) == 2:
                reply = b"VALUE " + store[words[1]] if words[1] in store else b"NOT-FOUND"
            else:
                reply = b"ERR unknown command"
            conn.sendall(reply + b"\n")
        if len(buffer) >= 1024:
            conn.sendall(b"ERR line too long\n")
            return


def upload(address, data):
    with socket.create_connection(address, timeout=10) as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        parts = []
        while True:
            part = sock.recv(4096)
            if not part:
                return b"".join(parts)
            parts.append(part)
