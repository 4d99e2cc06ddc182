"""Chapter 03's answers by their expected names: the same solutions as homework-source/03_unix.ipynb."""

import errno
import json
import os
import socket
import stat
import struct


def bind_unix(path):
    """A listening UNIX stream socket at path; a stale socket file is removed, nothing else is."""
    if len(os.fsencode(path)) > 107:
        raise ValueError(f"the path is {len(os.fsencode(path))} bytes long; sun_path holds at most 107")
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        mode = None
    if mode is not None:
        if not stat.S_ISSOCK(mode):
            raise FileExistsError(errno.EEXIST, "something that is not a socket is at this path", path)
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            probe.settimeout(0.5)
            try:
                probe.connect(path)
            except ConnectionRefusedError:
                os.unlink(path)  # stale: no server listens behind it
            except OSError:
                raise OSError(errno.EADDRINUSE, "a server (a busy one) is alive at this path", path) from None
            else:
                raise OSError(errno.EADDRINUSE, "a server is alive at this path", path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(path)
        sock.listen()
    except BaseException:
        sock.close()
        raise
    return sock


def dgram_server(sock):
    """Answer each named client with its own running count until exactly b'DONE'; return the datagrams."""
    received, counts = [], {}
    while True:
        data, sender = sock.recvfrom(65536)
        if data == b"DONE":
            return received
        received.append(data)
        if not sender:
            continue  # an unnamed client: nowhere to answer
        counts[sender] = counts.get(sender, 0) + 1
        try:
            sock.sendto(str(counts[sender]).encode(), sender)
        except (FileNotFoundError, ConnectionRefusedError):
            pass  # the client is gone


def receive_file(conn):
    """Receive a JSON line with a descriptor; return (name, the file's whole content)."""
    message, fds, _, _ = socket.recv_fds(conn, 65536, 1)
    try:
        if not fds:
            raise ValueError("the message came without a file descriptor")
        line = message
        while not line.endswith(b"\n"):
            more = conn.recv(65536)
            if not more:
                raise ConnectionError("the sender closed in the middle of its line")
            line += more
        info = json.loads(line)
        parts, offset = [], 0
        while True:
            part = os.pread(fds[0], 65536, offset)
            if not part:
                break
            parts.append(part)
            offset += len(part)
        return info["name"], b"".join(parts)
    finally:
        for fd in fds:
            os.close(fd)


def authorize(conn):
    """True only if the client's claimed pid is the kernel's, and the client runs as our user."""
    pid, uid, gid = struct.unpack("iII", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                                         struct.calcsize("iII")))
    conn.settimeout(1.0)
    line = b""
    try:
        while not line.endswith(b"\n") and len(line) < 4096:
            piece = conn.recv(4096 - len(line))
            if not piece:
                return False
            line += piece
        claim = json.loads(line)
    except (OSError, ValueError):
        return False
    if not isinstance(claim, dict) or type(claim.get("pid")) is not int:
        return False
    return claim["pid"] == pid and uid == os.getuid()
