"""A client in a process of its own: connect to a UNIX stream socket, send one message, print the reply.

    python unix_client.py PATH [--message TEXT] [--as-user NAME]

It prints one line and exits 0 when the exchange worked, or prints the error
(such as "PermissionError: [Errno 13] Permission denied") and exits 1.

--as-user makes a process that runs as root give up root and become another
user before it connects. The kernel does not check file permissions for root,
so that is the way to see a socket file's mode turn a client away while the
course runs as root (in a container or in CI). The switch happens inside this
program, after Python has started, because the interpreter may live where the
other user cannot read (such as root's home). A process that is not root
ignores --as-user: it cannot change its user, and needs not.
"""

import argparse
import os
import socket
import sys

TIMEOUT = 5.0


def become(user_name: str) -> None:
    """Give up root for good: drop extra groups, then the group, then the user (in that order)."""
    import pwd

    if os.geteuid() != 0:
        return
    entry = pwd.getpwnam(user_name)
    os.setgroups([])
    os.setgid(entry.pw_gid)
    os.setuid(entry.pw_uid)  # last: after it, this process may not change its groups any more


def talk(path: str, message: bytes) -> bytes:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(TIMEOUT)
        sock.connect(path)
        sock.sendall(message)
        sock.shutdown(socket.SHUT_WR)  # the server's reply ends when it sees our end
        parts = []
        for _ in range(1000):  # a reply of up to 64 MB; the loop is bounded all the same
            part = sock.recv(65536)
            if not part:
                break
            parts.append(part)
        return b"".join(parts)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", help="the UNIX socket file to connect to")
    parser.add_argument("--message", default="hello from another process")
    parser.add_argument("--as-user", metavar="NAME", help="if root, become this user before connecting")
    args = parser.parse_args(argv)
    if args.as_user:
        try:
            become(args.as_user)
        except KeyError:
            print(f"There is no user {args.as_user!r} on this machine; pick one that `getent passwd` "
                  f"lists, such as 'nobody'.", file=sys.stderr, flush=True)
            return 2
    try:
        reply = talk(args.path, args.message.encode())
    except OSError as exc:
        print(f"{type(exc).__name__}: {exc}", flush=True)
        return 1
    print(f"connected; the reply was {reply!r}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
