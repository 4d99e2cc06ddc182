"""The Python stand-ins of chapter 06's homework peers, for a machine without Java or a C compiler.

    python ch06_peers.py readings [HOST] [--count N] [--seed S] [--little] [--cut K] [--no-magic] [--mild]
    python -m sockcourse.homework.ch06_peers utf-echo [HOST]

`readings` does what peers/src/c/readings.c does, byte for byte: it listens
on loopback, port 0, prints `listening on 127.0.0.1:PORT`, and sends every
client the magic record and the readings (8 bytes each, `!IhH`), then ends
its side of the stream, waits for the client's close and prints
`sent N readings (B bytes, network order)`. `record_bytes()` makes the same
bytes in this process, and `readings()` the values in them, so a check knows
in advance what a correct reader returns, whichever program sent them.

`utf-echo` does what peers/src/java/UtfEchoServer.java does, with
sockcourse.protocols.javautf in place of Java's DataInputStream and
DataOutputStream: per connection, read a writeUTF string, print
`readUTF: N chars [0068 0069]` (its UTF-16 code units, the first 64), send
it back with writeUTF's framing, and again; bytes that readUTF refuses make
it print `readUTF failed: java.io.UTFDataFormatException: <Java's message>`
(or `readUTF failed: java.io.EOFException` for a string cut short), send
that line back with writeUTF and close the connection.

Both serve one client at a time until SIGINT or SIGTERM, and for at most
LIFETIME seconds. `readings` needs the standard library only (the check runs
it with `python -I -S`); `utf-echo` imports the package's javautf.
"""

from __future__ import annotations

import argparse
import ipaddress
import signal
import socket
import struct
import sys
import time

#: One reading: uint32 seq, int16 temp_centi, uint16 flags, network byte order.
RECORD = struct.Struct("!IhH")
#: The same record as a sender that forgot htonl() writes it on a little-endian machine.
LITTLE = struct.Struct("<IhH")
#: The seq of the magic first record ("READ" in ASCII); its temp_centi is 0 and its flags 1.
MAGIC_SEQ = 0x52454144
MAGIC = (MAGIC_SEQ, 0, 1)

#: Seconds a peer lives at most, whatever happens (an orphan never lives on).
LIFETIME = 600.0
#: Seconds each connection may stay silent before the peer gives up on it.
IO_TIMEOUT = 10.0

_MASK = 0xFFFFFFFF


# -- the readings, as the C program makes them ---------------------------------------------------
def _xorshift32(seed: int):
    """The generator of readings.c: xorshift32 (Marsaglia, 2003), seeded the same way."""
    state = ((seed * 2654435761) & _MASK) ^ 0x9E3779B9
    state = state or 1
    while True:
        state ^= (state << 13) & _MASK
        state ^= state >> 17
        state ^= (state << 5) & _MASK
        yield state


def readings(count: int, seed: int, *, mild: bool = False, extra: int = 0) -> list[tuple[int, int, int]]:
    """The (seq, temp_centi, flags) of the readings the peer sends for `count` and `seed` (and `extra` more)."""
    draw = _xorshift32(seed)
    first = 1 if mild else next(draw)
    made = []
    for i in range(count + extra):
        if mild:
            temp, flags = 1500 + next(draw) % 1500, next(draw) % 16
        else:
            temp, flags = next(draw) % 12501 - 4000, next(draw) & 0xFFFF
        made.append(((first + i) & _MASK, temp, flags))
    return made


def record_bytes(count: int, seed: int, *, little: bool = False, cut: int = 0, magic: bool = True,
                 mild: bool = False) -> bytes:
    """Every byte one client of the peer receives, in order, for these arguments."""
    layout = LITTLE if little else RECORD
    values = readings(count, seed, mild=mild, extra=1 if cut else 0)
    data = b"".join(layout.pack(*value) for value in ([MAGIC] if magic else []) + values[:count])
    if cut:
        data += layout.pack(*values[count])[:cut]
    return data


# -- serving ------------------------------------------------------------------------------------
def _listen(host: str) -> tuple[socket.socket, str]:
    if not ipaddress.ip_address(host).is_loopback:
        raise ValueError(f"HOST must be a loopback address, not {host!r}: this program never listens elsewhere")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.bind((host, 0))
    listener.listen(16)
    port = listener.getsockname()[1]
    return listener, (f"[{host}]:{port}" if family == socket.AF_INET6 else f"{host}:{port}")


def _serve(host: str, one_client) -> None:
    """Listen, say where, and give each client in turn to `one_client(conn)`, until the lifetime is over."""
    listener, shown = _listen(host)
    print(f"listening on {shown}", flush=True)
    ends = time.monotonic() + LIFETIME
    with listener:
        while (left := ends - time.monotonic()) > 0:
            listener.settimeout(left)
            try:
                conn, _ = listener.accept()
            except socket.timeout:
                return
            with conn:
                conn.settimeout(IO_TIMEOUT)
                try:
                    one_client(conn)
                except OSError as exc:  # the client left early: its doing, and the next one is served
                    print(f"the client left early: {type(exc).__name__}: {exc}", flush=True)


def _wait_for_close(conn: socket.socket) -> None:
    for _ in range(1000):
        try:
            if not conn.recv(4096):
                return
        except OSError:
            return


def serve_readings(host: str, count: int, seed: int, *, little: bool, cut: int, magic: bool, mild: bool) -> None:
    data = record_bytes(count, seed, little=little, cut=cut, magic=magic, mild=mild)

    def one_client(conn):
        conn.sendall(data)
        conn.shutdown(socket.SHUT_WR)
        _wait_for_close(conn)
        print(f"sent {count} readings ({len(data)} bytes, {'little-endian' if little else 'network order'})",
              flush=True)

    _serve(host, one_client)


def _recv_exactly(conn: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        piece = conn.recv(size - len(data))
        if not piece:
            break
        data += piece
    return data


def _units(text: str, shown: int = 64) -> str:
    """The string's UTF-16 code units in hex, "0068 0000 d83d de00", the first 64, as the Java peer prints them."""
    raw = text.encode("utf-16-be", "surrogatepass")
    units = [raw[i:i + 2].hex() for i in range(0, len(raw), 2)]
    return " ".join(units[:shown]) + (" ..." if len(units) > shown else "")


def serve_utf_echo(host: str) -> None:
    from sockcourse.protocols import javautf  # noqa: PLC0415 - only this peer needs the package

    def one_client(conn):
        while True:
            head = _recv_exactly(conn, 2)
            if not head:
                return  # a clean end at a string boundary
            size = int.from_bytes(head, "big")
            body = _recv_exactly(conn, size) if len(head) == 2 else b""
            if len(head) < 2 or len(body) < size:
                said = "readUTF failed: java.io.EOFException"  # readFully met the end; Java gives no message
            else:
                try:
                    text = javautf.decode(body)
                except javautf.ModifiedUtf8Error as exc:
                    said = f"readUTF failed: java.io.UTFDataFormatException: {exc.java_message}"
                else:
                    print(f"readUTF: {len(text.encode('utf-16-be', 'surrogatepass')) // 2} chars [{_units(text)}]",
                          flush=True)
                    conn.sendall(javautf.frame(text))
                    continue
            # As the Java peer does: say it, send the same words back with writeUTF, close.
            print(said, flush=True)
            conn.sendall(javautf.frame(said))
            return

    _serve(host, one_client)


def main(argv=None) -> int:
    # Stopped with SIGINT or SIGTERM: end quietly, as the C and Java peers do.
    signal.signal(signal.SIGINT, lambda *_: sys.exit(0))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    sender = commands.add_parser("readings")
    sender.add_argument("host", nargs="?", default="127.0.0.1")
    sender.add_argument("--count", type=int, default=10)
    sender.add_argument("--seed", type=int, default=1)
    sender.add_argument("--little", action="store_true")
    sender.add_argument("--cut", type=int, default=0, choices=range(8))
    sender.add_argument("--no-magic", action="store_true")
    sender.add_argument("--mild", action="store_true")
    echo = commands.add_parser("utf-echo")
    echo.add_argument("host", nargs="?", default="127.0.0.1")
    args = parser.parse_args(argv)
    try:
        if args.command == "readings":
            if not 0 <= args.count <= 100_000 or not 0 <= args.seed <= 2 ** 31 - 1:
                raise ValueError("--count must be from 0 to 100000 and --seed from 0 to 2147483647")
            serve_readings(args.host, args.count, args.seed, little=args.little, cut=args.cut,
                           magic=not args.no_magic, mild=args.mild)
        else:
            serve_utf_echo(args.host)
    except (OSError, ValueError) as exc:
        print(f"ch06_peers: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
