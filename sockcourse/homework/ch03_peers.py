"""The other processes of chapter 03's homework: a file sender and clients that claim a pid.

    python ch03_peers.py send-file PATH FOLDER SEED SIZE [--skip K] [--fds N] [--split]
    python ch03_peers.py claim ADDRESS HOW [--as-user NAME]

`send-file` writes SIZE bytes (made from SEED by `content()`) into a new file
in FOLDER, opens it, **unlinks** it, so that no process can open it by its
name any more, optionally reads its first K bytes (which moves the offset the
receiver shares), connects to the UNIX stream socket PATH and sends one JSON
line, {"name": ..., "size": ...}, with N descriptors attached to its first
byte (SCM_RIGHTS): the file first, then, for N = 2, a second unlinked file.
With --split the line leaves in two pieces, 50 ms apart.

`claim` connects to ADDRESS (a path, or "@name" for the Linux abstract
namespace), and says which process it is: HOW is `honest` (its own pid),
`pid:N` (it claims pid N), `pid-str` and `pid-float` (its own pid, but as a
JSON string or a float), `raw:HEX` (it sends those bytes instead of a
claim), `eof` (it closes its sending side without a word), `pieces` (its own
pid in three pieces, 40 ms apart) or `silent` (it says nothing and waits).
--as-user makes a process that runs as root become that user first.

Both then wait, at most WAIT seconds, for the other side to close, and exit
0; on an error they print one line on stderr and exit 1. The checks import
this module for `content()` and run it as a script: standard library only,
so that each process starts in a few tens of milliseconds.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import socket
import sys
import time

#: Seconds a peer waits for the other side to close before it gives up and exits.
WAIT = 10.0
#: Seconds between the pieces of a line sent in pieces.
PIECE_GAP = 0.04


def content(seed: int, size: int) -> bytes:
    """The bytes of the file that `send-file` sends: text for a small file, random bytes for a big one."""
    rng = random.Random(f"ch03-file:{seed}")
    if size <= 4096:
        words = ["socket", "descriptor", "kernel", "unlinked", "file", "process", "ancillary", "rights"]
        text = " ".join(rng.choice(words) for _ in range(size))
        return text.encode()[:size]
    return rng.randbytes(size)


def file_name(seed: int, index: int = 0) -> str:
    """The name the file had before it was unlinked (the second file of --fds 2 has index 1)."""
    return f"note-{seed}.txt" if index == 0 else f"extra-{seed}.bin"


def _address(text: str) -> str:
    return "\0" + text[1:] if text.startswith("@") else text


def _wait_for_close(sock: socket.socket) -> None:
    """Keep the connection open until the other side closes it (or WAIT passes)."""
    sock.settimeout(WAIT)
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        try:
            if not sock.recv(4096):
                return
        except (socket.timeout, ConnectionError):
            return


def _open_unlinked(folder: str, name: str, data: bytes) -> int:
    path = os.path.join(folder, name)
    with open(path, "wb") as f:
        f.write(data)
    fd = os.open(path, os.O_RDONLY)
    os.unlink(path)
    return fd


def send_file(path: str, folder: str, seed: int, size: int, *, skip: int = 0, fds: int = 1,
              split: bool = False) -> None:
    descriptors = []
    try:
        if fds >= 1:
            descriptors.append(_open_unlinked(folder, file_name(seed), content(seed, size)))
            if skip:
                os.read(descriptors[0], skip)  # moves the offset that the receiver's descriptor shares
        if fds >= 2:
            descriptors.append(_open_unlinked(folder, file_name(seed, 1), content(seed + 1, 64)))
        # The check finds leaked descriptors by what they point at: tell it which files these are.
        files = [[os.fstat(fd).st_dev, os.fstat(fd).st_ino] for fd in descriptors]
        print(json.dumps({"files": files}), flush=True)
        line = json.dumps({"name": file_name(seed), "size": size}).encode() + b"\n"
        cut = len(line) // 3 if split else len(line)
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(WAIT)
            sock.connect(path)
            if descriptors:
                socket.send_fds(sock, [line[:cut]], descriptors)
            else:
                sock.sendall(line[:cut])
            if line[cut:]:
                time.sleep(0.05)
                sock.sendall(line[cut:])
            _wait_for_close(sock)
    finally:
        for fd in descriptors:
            os.close(fd)


def become(user_name: str) -> None:
    """Give up root for good: extra groups, then the group, then the user."""
    import pwd

    if os.geteuid() != 0:
        return
    entry = pwd.getpwnam(user_name)
    os.setgroups([])
    os.setgid(entry.pw_gid)
    os.setuid(entry.pw_uid)


def claim(address: str, how: str) -> None:
    honest = json.dumps({"pid": os.getpid()}).encode() + b"\n"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(WAIT)
        sock.connect(_address(address))
        if how == "honest":
            sock.sendall(honest)
        elif how.startswith("pid:"):
            sock.sendall(json.dumps({"pid": int(how[4:])}).encode() + b"\n")
        elif how == "pid-str":
            sock.sendall(json.dumps({"pid": str(os.getpid())}).encode() + b"\n")
        elif how == "pid-float":
            sock.sendall(json.dumps({"pid": float(os.getpid())}).encode() + b"\n")
        elif how.startswith("raw:"):
            sock.sendall(bytes.fromhex(how[4:]))
        elif how == "eof":
            sock.shutdown(socket.SHUT_WR)
        elif how == "pieces":
            third = len(honest) // 3
            for piece in (honest[:third], honest[third:2 * third], honest[2 * third:]):
                sock.sendall(piece)
                time.sleep(PIECE_GAP)
        elif how != "silent":
            raise ValueError(f"unknown way to claim: {how!r}")
        _wait_for_close(sock)


def main(argv=None) -> int:
    # The check stops a peer with SIGINT when it has not ended by itself: end quietly then.
    signal.signal(signal.SIGINT, lambda *_: sys.exit(0))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    sender = commands.add_parser("send-file")
    sender.add_argument("path")
    sender.add_argument("folder")
    sender.add_argument("seed", type=int)
    sender.add_argument("size", type=int)
    sender.add_argument("--skip", type=int, default=0)
    sender.add_argument("--fds", type=int, default=1)
    sender.add_argument("--split", action="store_true")
    claimer = commands.add_parser("claim")
    claimer.add_argument("address")
    claimer.add_argument("how")
    claimer.add_argument("--as-user")
    args = parser.parse_args(argv)
    try:
        if args.command == "send-file":
            send_file(args.path, args.folder, args.seed, args.size, skip=args.skip, fds=args.fds, split=args.split)
        else:
            if args.as_user:
                become(args.as_user)
            claim(args.address, args.how)
    except (OSError, ValueError, KeyError) as exc:
        print(f"ch03_peers: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
