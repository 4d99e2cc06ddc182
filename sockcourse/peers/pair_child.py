"""A child process that was born holding one end of a socketpair.

    python pair_child.py FD

FD is the number of a connected socket this process inherited from its parent
(for example through subprocess's pass_fds). The child reads one message,
answers with the same bytes in upper case, and exits when the parent closes
its end. No path and no name were needed to find each other: the socket was
there from the start.
"""

import socket
import sys

TIMEOUT = 5.0


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1 or not argv[0].isdigit():
        print("usage: pair_child.py FD (the number of an inherited socket)", file=sys.stderr)
        return 2
    try:
        # Family and type are read from the descriptor itself.
        with socket.socket(fileno=int(argv[0])) as sock:
            sock.settimeout(TIMEOUT)
            for _ in range(100):  # bounded: the parent sends a few messages, then closes
                message = sock.recv(65536)
                if not message:
                    break
                sock.sendall(message.upper())
    except OSError as exc:
        print(f"pair_child: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
