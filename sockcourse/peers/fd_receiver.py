"""The receiving end of file-descriptor passing, in a process of its own.

    python fd_receiver.py PATH

It connects to the UNIX stream socket at PATH and then, one JSON line each way:
1. it says who it is: {"pid": ..., "uid": ..., "gid": ...}, so the other side
   can compare that with what the kernel reports (SO_PEERCRED);
2. it receives one message with one file descriptor attached (SCM_RIGHTS);
   the message is JSON too and names the path the file had, {"path": ...};
3. it tries to open that path itself, then reads the file through the
   descriptor it was handed, and reports both: {"open_by_path": ..., "read": ...,
   "fd": ..., "inode": ..., "links": ...}.
Then it closes everything and exits 0; on any error it exits 1 with one line
on stderr.
"""

import json
import os
import socket
import sys

TIMEOUT = 5.0
#: The most bytes read from the file it is handed.
MAX_READ = 4096


def read_line(sock: socket.socket) -> bytes:
    """One line, read byte by byte so that no byte of the next message is taken early."""
    line = bytearray()
    while not line.endswith(b"\n"):
        if len(line) > 65536:
            raise ValueError("a line of more than 64 KiB; the other side does not speak this protocol")
        byte = sock.recv(1)
        if not byte:
            raise ConnectionError("the other side closed before the end of a line")
        line += byte
    return bytes(line)


def describe(fd: int, old_path: str) -> dict:
    """What this process can do with the file: by its old path, and through the descriptor."""
    try:
        with open(old_path, "rb"):
            by_path = "opened"
    except OSError as exc:
        by_path = type(exc).__name__
    info = os.fstat(fd)
    data = os.read(fd, MAX_READ)
    return {"open_by_path": by_path, "read": data.decode(errors="replace"), "fd": fd,
            "inode": info.st_ino, "links": info.st_nlink, "pid": os.getpid()}


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: fd_receiver.py PATH (the UNIX socket to connect to)", file=sys.stderr)
        return 2
    received = []
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(TIMEOUT)
            sock.connect(argv[0])
            hello = {"pid": os.getpid(), "uid": os.getuid(), "gid": os.getgid()}
            sock.sendall(json.dumps(hello).encode() + b"\n")
            # The descriptor arrives as ancillary data of the message's first byte (unix(7)).
            message, received, _, _ = socket.recv_fds(sock, 65536, 1)
            while not message.endswith(b"\n"):
                more = sock.recv(65536)
                if not more:
                    raise ConnectionError("the other side closed in the middle of its message")
                message += more
            if len(received) != 1:
                raise ValueError(f"expected one file descriptor with the message, got {len(received)}")
            report = describe(received[0], json.loads(message)["path"])
            sock.sendall(json.dumps(report).encode() + b"\n")
            sock.shutdown(socket.SHUT_WR)
            sock.recv(1)  # wait for the other side to close: it has read the report by then
    except (OSError, ValueError, KeyError) as exc:
        print(f"fd_receiver: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        for fd in received:
            os.close(fd)
    return 0


if __name__ == "__main__":
    sys.exit(main())
