"""The far end of the course's measurements (sockcourse.bench): it echoes, or it pours bytes.

    python bench_peer.py --unix PATH
    python bench_peer.py --tcp HOST PORT

It connects to the measuring side, reads one request and serves it until the
measuring side closes the connection:
- b"E" + size: echo every message of `size` bytes straight back (for round trips);
- b"S" + total + chunk: send `total` bytes in sendall() calls of `chunk` bytes
  (for throughput), then wait for the other side to close.
The bytes poured follow a fixed pattern (`pattern`), so the receiver can check
that every byte arrived, in order. Standard library only, so it starts fast;
sockcourse.bench also runs `serve` on a thread, in-process.
"""

import socket
import struct
import sys

#: The request: one command byte, then two unsigned 64-bit numbers.
REQUEST = struct.Struct("!cQQ")
ECHO, SOURCE = b"E", b"S"

#: Byte i of a poured stream is i % PERIOD; a prime, so that no chunk size lines up with it.
PERIOD = 251

#: Upper bounds that keep every loop finite, whatever a request asks for.
MAX_ROUNDS = 10_000_000
MAX_TOTAL = 1 << 40
MAX_SIZE = 1 << 26

TIMEOUT = 10.0

#: The hosts a TCP peer may connect to: this machine's loopback, nothing else.
LOOPBACK = ("127.0.0.1", "::1")


def pattern(length: int) -> bytes:
    """`length` bytes of the pattern, plus PERIOD more, so any offset's slice of `length` fits."""
    needed = length + PERIOD
    return (bytes(range(PERIOD)) * (needed // PERIOD + 1))[:needed]


def recv_exactly(sock: socket.socket, size: int, buffer: bytearray) -> bool:
    """Fill buffer[:size] from the socket; False if the peer closed before the first byte."""
    view, got = memoryview(buffer), 0
    while got < size:
        n = sock.recv_into(view[got:size])
        if n == 0:
            if got == 0:
                return False
            raise ConnectionError(f"the other side closed after {got} of {size} bytes of a message")
        got += n
    return True


def echo(sock: socket.socket, size: int) -> None:
    buffer = bytearray(size)
    reply = memoryview(buffer)
    recv_into, sendall = sock.recv_into, sock.sendall
    for _ in range(MAX_ROUNDS):
        got = recv_into(buffer)
        if got < size and (got == 0 or not recv_exactly(sock, size - got, reply[got:])):
            return
        sendall(reply)


def source(sock: socket.socket, total: int, chunk: int) -> None:
    view = memoryview(pattern(chunk))
    sent = 0
    try:
        while sent < total:
            n = min(chunk, total - sent)
            start = sent % PERIOD
            sock.sendall(view[start:start + n])
            sent += n
        sock.recv(1)  # returns b"" when the measuring side closes: it has everything by then
    except (BrokenPipeError, ConnectionResetError):
        pass  # the measuring side stopped early (its time limit), which is its right


def serve(sock: socket.socket) -> None:
    """Read one request from a connected socket and serve it to the end."""
    header = bytearray(REQUEST.size)
    if not recv_exactly(sock, REQUEST.size, header):
        return
    command, first, second = REQUEST.unpack(header)
    if command == ECHO and 1 <= first <= MAX_SIZE:
        echo(sock, first)
    elif command == SOURCE and 0 <= first <= MAX_TOTAL and 1 <= second <= MAX_SIZE:
        source(sock, first, second)
    else:
        raise ValueError(f"a request this peer does not know: {command!r} {first} {second}")


def connect(kind: str, address) -> socket.socket:
    """A socket connected to the measuring side; TCP_NODELAY on TCP, so small messages leave at once."""
    if kind == "tcp":
        sock = socket.create_connection(address, timeout=TIMEOUT)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(TIMEOUT)
        sock.connect(address)
    except BaseException:
        sock.close()
        raise
    return sock


def run(kind: str, address) -> None:
    with connect(kind, address) as sock:
        # Blocking, with the kernel's own time limits: a Python timeout would add a
        # poll() to every recv(), which the C ping-pong does not pay.
        sock.settimeout(None)
        limit = struct.pack("ll", int(TIMEOUT), 0)  # struct timeval
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, limit)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, limit)
        serve(sock)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) == 2 and argv[0] == "--unix":
        kind, address = "unix", argv[1]
    elif len(argv) == 3 and argv[0] == "--tcp" and argv[2].isdigit() and argv[1] in LOOPBACK:
        kind, address = "tcp", (argv[1], int(argv[2]))
    else:
        print("usage: bench_peer.py --unix PATH | --tcp HOST PORT, where HOST is a loopback "
              "address (127.0.0.1 or ::1): the course measures this machine only", file=sys.stderr)
        return 2
    try:
        run(kind, address)
    except (OSError, ValueError) as exc:
        print(f"bench_peer: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
