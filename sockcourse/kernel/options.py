"""Socket options as data: every option of chapter 07, each one tried for real on this machine.

`OPTIONS` is the table: for each option its level, its number, the kind of
value it takes, what it means in one sentence and the man page that
describes it. The table says what an option IS; it never says what the
kernel will answer. That is what `probe()` finds out, on a fresh socket of
its own (never bound, never connected, closed at once): can the option be
read, what is its default, can it be set, what does the kernel keep when it
is set, and, when it refuses, with which errno. `probe_all()` is the live
table the notebook shows, built from those answers.

`get(sock, name)` and `set(sock, name, value)` read and write one option
of a learner's socket with the C layouts written once below (a C int, a
struct linger, a struct timeval), and turn every mistake into one sentence
that names the option, the value and what this system accepts.
"""

from __future__ import annotations

import dataclasses
import difflib
import errno
import math
import numbers
import os
import platform
import socket
import struct
import sys
from typing import NamedTuple

from . import tcpinfo
from ..core.errors import ArgumentError, ArgumentTypeError

# -- the C layouts, written once -------------------------------------------------
#: struct linger { int l_onoff; int l_linger; }, socket(7) under SO_LINGER.
LINGER_LAYOUT = struct.Struct("@ii")
#: struct timeval { time_t tv_sec; suseconds_t tv_usec; }: two C longs on Linux,
#: which is what SO_RCVTIMEO and SO_SNDTIMEO (the "_OLD" numbers 20 and 21 of
#: asm-generic/socket.h, the ones Python's socket module has) read and write.
TIMEVAL_LAYOUT = struct.Struct("@ll")
#: The largest C int: every other option here is one.
C_INT_MAX = 2 ** 31 - 1

#: The kinds of value, and how a learner passes one to set().
KINDS = {
    "bool": "on or off: True or False (a C int, 0 or 1)",
    "int": "a whole number (a C int)",
    "seconds": "a number of seconds, 0 meaning no timeout (a struct timeval)",
    "linger": "Linger(on, seconds), or None for off (a struct linger)",
    "bytes": "a struct read as raw bytes (read only)",
}

_TYPES = {socket.SOCK_STREAM: "SOCK_STREAM", socket.SOCK_DGRAM: "SOCK_DGRAM"}


class Linger(NamedTuple):
    """What SO_LINGER holds: whether close() lingers, and for how many seconds (0 with on: send RST)."""

    on: bool
    seconds: int


@dataclasses.dataclass(frozen=True)
class Option:
    """One socket option as data: what it is, never what the kernel will say (probe() asks that)."""

    name: str           # "SO_REUSEADDR"
    level: str          # "SOL_SOCKET" or "IPPROTO_TCP"
    kind: str           # a key of KINDS
    meaning: str        # one sentence
    man: str            # where it is described, e.g. "socket(7)"
    linux_number: int | None  # its number on Linux (x86, arm), None if Linux has no such option
    header: str         # the header that defines that number (or where the option lives instead)
    unit: str = ""      # "seconds", "bytes", "probes" ...
    sample: object = None     # the value probe() sets; None: write the default back (a read-only test)
    low: int | None = None    # the range Linux accepts for an "int", where it has one
    high: int | None = None
    range_source: str = ""    # where that range comes from

    @property
    def number(self) -> int | None:
        """Its number here: the socket module's, else Linux's (on Linux), else None (this OS lacks it)."""
        value = getattr(socket, self.name, None)
        if isinstance(value, int):
            return int(value)
        return self.linux_number if sys.platform.startswith("linux") else None

    @property
    def source(self) -> str:
        """Where `number` comes from: "socket module", the Linux header, or "" if there is none."""
        if isinstance(getattr(socket, self.name, None), int):
            return "socket module"
        return self.header if self.number is not None else ""

    @property
    def level_number(self) -> int:
        return getattr(socket, self.level)


_SOCKET_H = "asm-generic/socket.h"
_TCP_H = "linux/tcp.h"
_TCP_RANGE = "the kernel's MAX_TCP_KEEP* in include/net/tcp.h"

#: Every option of chapter 07, in the order the chapter meets them.
OPTIONS = (
    Option("SO_REUSEADDR", "SOL_SOCKET", "bool",
           "Lets bind() take a local address whose old connection still sits in TIME_WAIT, so a server "
           "restarts at once.", "socket(7)", 2, _SOCKET_H, sample=True),
    Option("SO_REUSEPORT", "SOL_SOCKET", "bool",
           "Lets several sockets bind the very same address and port, and the kernel spreads the incoming "
           "connections or datagrams over them.", "socket(7)", 15, _SOCKET_H, sample=True),
    Option("SO_KEEPALIVE", "SOL_SOCKET", "bool",
           "Makes TCP send keep-alive probes on an idle connection, so a peer that vanished is noticed.",
           "socket(7)", 9, _SOCKET_H, sample=True),
    Option("TCP_KEEPIDLE", "IPPROTO_TCP", "int",
           "How long a connection stays idle before the first keep-alive probe (with SO_KEEPALIVE on).",
           "tcp(7)", 4, _TCP_H, unit="seconds", sample=60, low=1, high=32767, range_source=_TCP_RANGE),
    Option("TCP_KEEPINTVL", "IPPROTO_TCP", "int",
           "How long TCP waits between two unanswered keep-alive probes.",
           "tcp(7)", 5, _TCP_H, unit="seconds", sample=10, low=1, high=32767, range_source=_TCP_RANGE),
    Option("TCP_KEEPCNT", "IPPROTO_TCP", "int",
           "How many unanswered keep-alive probes make TCP give the connection up.",
           "tcp(7)", 6, _TCP_H, unit="probes", sample=5, low=1, high=127, range_source=_TCP_RANGE),
    Option("SO_LINGER", "SOL_SOCKET", "linger",
           "What close() does with data still queued: wait up to that many seconds for it to go, or with 0 "
           "seconds throw it away and send RST instead of FIN.", "socket(7)", 13, _SOCKET_H,
           unit="seconds", sample=Linger(True, 5)),
    Option("SO_SNDBUF", "SOL_SOCKET", "int",
           "The size of the kernel's send buffer for this socket.", "socket(7)", 7, _SOCKET_H,
           unit="bytes", sample=32768, low=0, high=C_INT_MAX, range_source="a C int; the kernel clamps it"),
    Option("SO_RCVBUF", "SOL_SOCKET", "int",
           "The size of the kernel's receive buffer for this socket.", "socket(7)", 8, _SOCKET_H,
           unit="bytes", sample=32768, low=0, high=C_INT_MAX, range_source="a C int; the kernel clamps it"),
    Option("SO_RCVTIMEO", "SOL_SOCKET", "seconds",
           "How long a blocking receive waits for data before it fails with EAGAIN.", "socket(7)", 20,
           _SOCKET_H + " (SO_RCVTIMEO_OLD)", unit="seconds", sample=2.5),
    Option("SO_SNDTIMEO", "SOL_SOCKET", "seconds",
           "How long a blocking send waits for room in the send buffer before it fails with EAGAIN.",
           "socket(7)", 21, _SOCKET_H + " (SO_SNDTIMEO_OLD)", unit="seconds", sample=2.5),
    Option("SO_TYPE", "SOL_SOCKET", "int",
           "The socket's type, SOCK_STREAM or SOCK_DGRAM, as the kernel knows it.", "socket(7)", 3, _SOCKET_H),
    Option("SO_ERROR", "SOL_SOCKET", "int",
           "The socket's pending error, cleared by reading it: how a non-blocking connect() tells its result.",
           "socket(7)", 4, _SOCKET_H),
    Option("SO_BROADCAST", "SOL_SOCKET", "bool",
           "Allows a datagram socket to send to a broadcast address.", "socket(7)", 6, _SOCKET_H, sample=True),
    Option("SO_DONTROUTE", "SOL_SOCKET", "bool",
           "Sends only to hosts on a directly connected network, bypassing the routing table.",
           "socket(7)", 5, _SOCKET_H, sample=True),
    Option("SO_OOBINLINE", "SOL_SOCKET", "bool",
           "Puts TCP's urgent byte (sent with MSG_OOB) in the normal stream instead of apart from it.",
           "socket(7)", 10, _SOCKET_H, sample=True),
    Option("SO_RCVLOWAT", "SOL_SOCKET", "int",
           "The fewest bytes a receive waits for, and select() or poll() waits for before saying 'readable'.",
           "socket(7)", 18, _SOCKET_H, unit="bytes", sample=100, low=0, high=C_INT_MAX, range_source="a C int"),
    Option("SO_SNDLOWAT", "SOL_SOCKET", "int",
           "The least free room in the send buffer before a send goes ahead.", "socket(7)", 19, _SOCKET_H,
           unit="bytes", sample=100, low=0, high=C_INT_MAX, range_source="a C int"),
    Option("SO_USELOOPBACK", "SOL_SOCKET", "bool",
           "BSD's 'bypass hardware when possible', used by routing sockets to get their own messages back.",
           "getsockopt(2) and route(4) on FreeBSD and macOS", None,
           "from BSD: FreeBSD's and macOS's <sys/socket.h> (and Windows' winsock2.h) define it as 0x0040", sample=True),
    Option("TCP_NODELAY", "IPPROTO_TCP", "bool",
           "Turns Nagle's algorithm off: small segments go out at once instead of waiting for an ACK.",
           "tcp(7)", 1, _TCP_H, sample=True),
    Option("TCP_INFO", "IPPROTO_TCP", "bytes",
           "The kernel's struct tcp_info for the connection (rtt, cwnd, retransmissions): read it with "
           "kernel.tcp_info(sock).", "tcp(7)", 11, _TCP_H, unit="bytes"),
)

_BY_NAME = {option.name: option for option in OPTIONS}


def names() -> list[str]:
    """The names of the table, in its order."""
    return list(_BY_NAME)


def system() -> str:
    """This operating system's name, as a sentence names it ("Linux", "Darwin", ...)."""
    return platform.system() or sys.platform


# -- errors ---------------------------------------------------------------------------
class UnknownOption(ArgumentError):
    """A name that is not an option of the table (the message suggests the nearest)."""


class OptionUnavailable(ArgumentError):
    """An option of the table that this operating system does not have (SO_USELOOPBACK on Linux)."""


class OptionRefused(ArgumentError, OSError):
    """The kernel refused a getsockopt() or setsockopt(); `errno` holds its errno (`except OSError` catches it)."""

    def __init__(self, message: str, code: int | None):
        super().__init__(message)
        self.errno = code
        self.strerror = os.strerror(code) if code else None

    def __str__(self) -> str:
        return str(self.args[0])  # the whole sentence, not OSError's "[Errno 92] ..."


def lookup(name) -> Option:
    """The row of one option, by name ('SO_REUSEADDR', any case) or an Option itself."""
    if isinstance(name, Option):
        return name
    if not isinstance(name, str):
        raise ArgumentTypeError(f"An option is named by a string such as 'SO_KEEPALIVE', but got {name!r} "
                                f"(type {type(name).__name__}); numbers differ between systems, so the course "
                                f"takes the name.")
    key = name.strip().upper()
    if key in _BY_NAME:
        return _BY_NAME[key]
    close = difflib.get_close_matches(key, list(_BY_NAME), n=1, cutoff=0.6)
    hint = f"did you mean {close[0]!r}?" if close else f"the options are {', '.join(_BY_NAME)}."
    raise UnknownOption(f"{name!r} is not one of the socket options of chapter 07; {hint}")


def _errno_name(code: int) -> str:
    # Linux's man pages say EOPNOTSUPP where Python's errno table says ENOTSUP (the same number).
    if code == getattr(errno, "EOPNOTSUPP", None):
        return "EOPNOTSUPP"
    return errno.errorcode.get(code, f"errno {code}")


def _available(opt: Option) -> int:
    number = opt.number
    if number is None:
        elsewhere = (f"Linux has it as number {opt.linux_number}, in {opt.header}" if opt.linux_number is not None
                     else opt.header)
        raise OptionUnavailable(
            f"{opt.name} does not exist on {system()}: this Python's socket module has no such name "
            f"({elsewhere}); see options.probe_all() for the options this system has.")
    return number


def _check_socket(sock, what: str) -> None:
    if not isinstance(sock, socket.socket):
        raise ArgumentTypeError(f"{what}() needs a socket.socket, but got {sock!r} (type {type(sock).__name__}); "
                                f"for example socket.socket(socket.AF_INET, socket.SOCK_STREAM).")
    if sock.fileno() == -1:
        raise ArgumentError(f"{what}() got a closed socket (its fileno() is -1); options live as long as the "
                            f"socket, so set or read them before close().")


# -- values: checked, packed and unpacked by kind ---------------------------------------
def _accepts(opt: Option) -> str:
    """What this system accepts for the option, as the end of a sentence."""
    if opt.kind == "int":
        low, high, source = _range(opt)
        unit = f" of {opt.unit}" if opt.unit else ""
        return f"a whole number{unit} from {low:,} to {high:,} ({source})"
    return KINDS[opt.kind]


def _range(opt: Option) -> tuple[int, int, str]:
    if sys.platform.startswith("linux") and opt.low is not None:
        return opt.low, opt.high, f"on Linux: {opt.range_source}"
    return -C_INT_MAX - 1, C_INT_MAX, "a C int; the kernel decides the rest"


def _wrong(opt: Option, value, *, kind_error: bool) -> ArgumentError:
    example = {"bool": "True", "int": repr(opt.sample if opt.sample is not None else 1),
               "seconds": "2.5", "linger": "Linger(on=True, seconds=0)", "bytes": "b''"}[opt.kind]
    got = f"{value!r} (type {type(value).__name__})" if kind_error else repr(value)
    error = ArgumentTypeError if kind_error else ArgumentError
    return error(f"{opt.name} takes {_accepts(opt)}, but got {got}; for example set(sock, {opt.name!r}, {example}).")


def _encode(opt: Option, value):
    """The int or bytes setsockopt() takes for `value`, after checking it; raise a sentence otherwise."""
    if opt.kind == "bool":
        if isinstance(value, bool) or (isinstance(value, numbers.Integral) and value in (0, 1)):
            return int(value)
        raise _wrong(opt, value, kind_error=not isinstance(value, numbers.Integral))
    if opt.kind == "int":
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise _wrong(opt, value, kind_error=True)
        low, high, _ = _range(opt)
        if not low <= value <= high:
            raise _wrong(opt, value, kind_error=False)
        return int(value)
    if opt.kind == "seconds":
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise _wrong(opt, value, kind_error=True)
        if not math.isfinite(value) or not 0 <= value <= C_INT_MAX:
            raise _wrong(opt, value, kind_error=False)
        whole = int(value)
        micro = round((value - whole) * 1_000_000)
        if micro == 1_000_000:  # 2.9999999 rounds up to the next whole second
            whole, micro = whole + 1, 0
        if value > 0 and whole == micro == 0:
            # The kernel reads a zero timeval as "no timeout": a tiny wait would silently become "forever".
            raise ArgumentError(f"{opt.name} = {value!r} is shorter than the one microsecond a struct timeval "
                                f"can hold, and would be sent as 0, which means 'wait for ever'; give at least "
                                f"0.000001 seconds, or 0 on purpose for no timeout.")
        return TIMEVAL_LAYOUT.pack(whole, micro)
    if opt.kind == "linger":
        if value is None or value is False:
            return LINGER_LAYOUT.pack(0, 0)
        if not isinstance(value, tuple) or len(value) != 2:
            raise _wrong(opt, value, kind_error=True)
        on, seconds = value
        if not isinstance(on, (bool, numbers.Integral)) or on not in (0, 1) \
                or isinstance(seconds, bool) or not isinstance(seconds, numbers.Integral):
            raise _wrong(opt, value, kind_error=True)
        if not 0 <= seconds <= C_INT_MAX:
            raise _wrong(opt, value, kind_error=False)
        return LINGER_LAYOUT.pack(int(on), int(seconds))
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise _wrong(opt, value, kind_error=True)


def _buffer_size(opt: Option) -> int | None:
    """How many bytes getsockopt() is asked for (None: a plain C int)."""
    return {"seconds": TIMEVAL_LAYOUT.size, "linger": LINGER_LAYOUT.size, "bytes": tcpinfo.SIZE}.get(opt.kind)


def _decode(opt: Option, raw):
    if opt.kind == "bool":
        return bool(raw)
    if opt.kind == "seconds":
        whole, micro = TIMEVAL_LAYOUT.unpack(raw)
        return whole + micro / 1_000_000
    if opt.kind == "linger":
        on, seconds = LINGER_LAYOUT.unpack(raw)
        return Linger(bool(on), seconds)
    return raw  # an int, or the bytes of TCP_INFO


def _raw_get(sock: socket.socket, opt: Option, number: int):
    size = _buffer_size(opt)
    if size is None:
        return sock.getsockopt(opt.level_number, number)
    return sock.getsockopt(opt.level_number, number, size)


# -- why the kernel said no ---------------------------------------------------------
def _refusal(opt: Option, call: str, sock: socket.socket, value, exc: OSError, readable: bool) -> str:
    code = exc.errno or 0
    shown = "" if call == "getsockopt" else f", {_shown(opt, value) if opt.kind == 'bytes' else repr(value)}"
    head = (f"The kernel refused {call}({opt.level}, {opt.name}{shown}) on this {_TYPES.get(sock.type, sock.type)} "
            f"socket with {_errno_name(code)} ({os.strerror(code)})")
    is_tcp = sock.type == socket.SOCK_STREAM and sock.family in (socket.AF_INET, socket.AF_INET6)
    if opt.level == "IPPROTO_TCP" and not is_tcp:
        why = f"{opt.name} is a TCP option, so it needs a TCP socket (AF_INET or AF_INET6 with SOCK_STREAM)"
    elif code == errno.ENOPROTOOPT and readable:
        why = f"{system()} lets {opt.name} be read but not set"
    elif code in (errno.EINVAL, errno.EDOM):
        why = f"{opt.name} takes {_accepts(opt)}, and the kernel did not take this one"
    elif code == errno.EPERM or code == errno.EACCES:
        why = "only a privileged process (root, or one with CAP_NET_ADMIN) may do that"
    else:
        why = f"{opt.man} describes what {opt.name} accepts"
    return f"{head}: {why}."


def get(sock: socket.socket, name):
    """Read one option of `sock`: a bool, an int, seconds (float), a Linger, or (TCP_INFO) the raw bytes."""
    _check_socket(sock, "get")
    opt = lookup(name)
    number = _available(opt)
    try:
        raw = _raw_get(sock, opt, number)
    except OSError as exc:
        raise OptionRefused(_refusal(opt, "getsockopt", sock, None, exc, readable=False), exc.errno) from None
    return _decode(opt, raw)


def set(sock: socket.socket, name, value):  # noqa: A001 - the name the chapter uses, beside get()
    """Set one option of `sock` to `value`, checked first; return what the kernel kept (read back).

    The value read back is the lesson as often as not: Linux doubles
    SO_SNDBUF and SO_RCVBUF, and keeps timeouts in clock ticks.
    """
    _check_socket(sock, "set")
    opt = lookup(name)
    number = _available(opt)
    encoded = _encode(opt, value)
    try:
        sock.setsockopt(opt.level_number, number, encoded)
    except OSError as exc:
        try:
            _raw_get(sock, opt, number)
            readable = True
        except OSError:
            readable = False
        raise OptionRefused(_refusal(opt, "setsockopt", sock, value, exc, readable), exc.errno) from None
    return get(sock, opt)


# -- the live table ------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Probe:
    """What the kernel answered for one option, on a fresh socket of the probe's own."""

    option: str
    level: str
    number: int | None     # None: this system has no such option
    source: str            # where the number comes from ("socket module", or a header)
    sock_type: str         # "SOCK_STREAM" or "SOCK_DGRAM"
    kind: str
    exists: bool           # this system knows the option (it has a number for it)
    readable: bool         # getsockopt() answered
    default: object        # what a fresh socket holds (None if it could not be read)
    sample: object         # the value set() was tried with
    settable: bool         # setsockopt() took it
    read_back: object      # what getsockopt() said after the set (None if the set failed)
    errno: str | None      # the errno name of the call that failed, if one did
    strerror: str          # its words, from the C library
    failed_call: str       # "getsockopt", "setsockopt" or ""
    note: str              # what the answers show, in a few words
    meaning: str
    man: str

    def to_dict(self) -> dict:
        """Plain data: a Linger becomes a dict, TCP_INFO's bytes their length."""
        return {key: _plain(value) for key, value in dataclasses.asdict(self).items()}


def _plain(value):
    if isinstance(value, Linger):
        return value._asdict()
    if isinstance(value, bytes):
        return {"bytes": len(value)}
    return value


def _shown(opt: Option, value) -> str:
    """A value as the table shows it: 1 (SOCK_STREAM), 0.0 s (no timeout), 280 bytes of struct tcp_info."""
    if value is None:
        return "-"
    if opt.kind == "bool":
        return "1 (on)" if value else "0 (off)"
    if opt.kind == "seconds":
        return f"{value:g} s" + (" (no timeout)" if value == 0 else "")
    if opt.kind == "linger":
        on, seconds = value
        return f"on, {seconds} s" if on else f"off ({seconds} s)"
    if opt.kind == "bytes":
        return f"{len(value)} bytes" + (f" (state {tcpinfo.parse(value).state})" if value else "")
    if opt.name == "SO_TYPE":
        return f"{value} ({_TYPES.get(value, 'type ' + str(value))})"
    if opt.name == "SO_ERROR":
        return f"{value} ({_errno_name(value)})" if value else "0 (no error)"
    unit = opt.unit[:-1] if value == 1 and opt.unit.endswith("s") else opt.unit  # 1 byte, 1 second
    return f"{value:,}" + (f" {unit}" if unit else "")


def _note(opt: Option, sample, read_back) -> str:
    """What the read-back says, worked out from the numbers the kernel gave."""
    if read_back == sample:
        return "kept as set"
    if opt.kind == "int" and isinstance(sample, int) and sample and read_back == 2 * sample:
        return f"set {sample:,}, read back {read_back:,}: the kernel doubled it (socket(7): room for its bookkeeping)"
    if opt.kind == "seconds":
        return f"set {sample:g} s, read back {read_back:g} s: the kernel keeps timeouts in clock ticks"
    return f"set {_shown(opt, sample)}, read back {_shown(opt, read_back)}"


def _socket_type(sock_type) -> int:
    if isinstance(sock_type, str):
        sock_type = {name: number for number, name in _TYPES.items()}.get(sock_type.strip().upper(), sock_type)
    try:
        known = not isinstance(sock_type, bool) and sock_type in _TYPES
    except TypeError:  # an unhashable value, a list say
        known = False
    if not known:
        raise ArgumentError(f"probe() tries options on a fresh SOCK_STREAM (TCP) or SOCK_DGRAM (UDP) socket, "
                            f"but got sock_type={sock_type!r}; for example sock_type=socket.SOCK_DGRAM.")
    return int(sock_type)


def probe(option, sock_type=socket.SOCK_STREAM) -> Probe:
    """Try one option for real on a fresh AF_INET socket of its own: read it, set a sample, read it back.

    `option` is a name ('SO_SNDBUF') or a row of OPTIONS; `sock_type` is
    socket.SOCK_STREAM (TCP, the default) or socket.SOCK_DGRAM (UDP).
    """
    opt = lookup(option)
    kind = _socket_type(sock_type)
    row = dict(option=opt.name, level=opt.level, number=opt.number, source=opt.source, sock_type=_TYPES[kind],
               kind=opt.kind, meaning=opt.meaning, man=opt.man)
    if opt.number is None:
        return Probe(**row, exists=False, readable=False, default=None, sample=opt.sample, settable=False,
                     read_back=None, errno=None, strerror="", failed_call="",
                     note=f"not on {system()}; {opt.header}")
    # A fresh socket per option: nothing another option did can change the answer.
    with socket.socket(socket.AF_INET, kind) as sock:
        try:
            default = _decode(opt, _raw_get(sock, opt, opt.number))
        except OSError as exc:
            return Probe(**row, exists=True, readable=False, default=None, sample=opt.sample, settable=False,
                         read_back=None, errno=_errno_name(exc.errno), strerror=os.strerror(exc.errno),
                         failed_call="getsockopt", note=_refusal(opt, "getsockopt", sock, None, exc, False))
        sample = default if opt.sample is None else opt.sample
        try:
            sock.setsockopt(opt.level_number, opt.number, _encode(opt, sample))
        except OSError as exc:
            return Probe(**row, exists=True, readable=True, default=default, sample=sample, settable=False,
                         read_back=None, errno=_errno_name(exc.errno), strerror=os.strerror(exc.errno),
                         failed_call="setsockopt",
                         note=f"readable, but setsockopt() failed with {_errno_name(exc.errno)}")
        try:
            read_back = _decode(opt, _raw_get(sock, opt, opt.number))
        except OSError as exc:
            return Probe(**row, exists=True, readable=True, default=default, sample=sample, settable=True,
                         read_back=None, errno=_errno_name(exc.errno), strerror=os.strerror(exc.errno),
                         failed_call="getsockopt",
                         note=f"set, but reading it back failed with {_errno_name(exc.errno)}")
    return Probe(**row, exists=True, readable=True, default=default, sample=sample, settable=True,
                 read_back=read_back, errno=None, strerror="", failed_call="",
                 note=_note(opt, sample, read_back))


class OptionTable(list):
    """A list of Probe that shows itself as a text table (the chapter's live table)."""

    columns = ("option", "level", "number", "default", "settable", "read back / errno")

    def row(self, name) -> Probe:
        """The probe of one option, e.g. table.row('SO_SNDBUF')."""
        wanted = lookup(name).name
        for probe_ in self:
            if probe_.option == wanted:
                return probe_
        raise KeyError(f"This table has no row {wanted!r}; it has {', '.join(p.option for p in self)}.")

    def to_dicts(self) -> list[dict]:
        return [probe_.to_dict() for probe_ in self]

    def compare(self, answers) -> "Comparison":
        """Lay another program's answers beside this table's defaults, option by option.

        `answers` maps an option's name to what that program read on a fresh
        socket of its own: anything with `.value`, `.errno` and `.missing`,
        such as sockcourse.peers.crosscheck.c_getsockopt()'s. Values compare
        as numbers (False equals 0, Linger(False, 0) equals (0, 0)); a struct
        read as bytes compares by its length.
        """
        rows = []
        for p in self:
            other = answers.get(p.option)
            if other is None:
                rows.append(Agreement(p.option, _shown_default(p), "not asked", False))
                continue
            if not p.exists or getattr(other, "missing", False):
                same = not p.exists and bool(getattr(other, "missing", False))
                theirs = "not defined" if getattr(other, "missing", False) else str(other.value)
            elif not p.readable or getattr(other, "errno", None):
                same = (not p.readable) and p.errno == getattr(other, "errno", None)
                theirs = f"errno {other.errno}" if getattr(other, "errno", None) else str(other.value)
            else:
                mine = len(p.default) if isinstance(p.default, bytes) else p.default
                same = mine == other.value
                theirs = str(other.value)
            rows.append(Agreement(p.option, _shown_default(p), theirs, same))
        return Comparison(rows)

    def __repr__(self) -> str:
        if not self:
            return "(an empty table)"
        rows = [self.columns]
        for p in self:
            opt = _BY_NAME[p.option]
            if not p.exists:
                outcome = p.note
            elif p.settable:
                outcome = _shown(opt, p.read_back)
            else:
                outcome = f"{p.failed_call}: {p.errno}"
            settable = "yes" if p.settable else ("-" if not p.exists else "no")
            rows.append((p.option, p.level, "-" if p.number is None else str(p.number),
                         _shown(opt, p.default), settable, outcome))
        widths = [max(len(r[i]) for r in rows) for i in range(len(self.columns))]
        lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in rows]
        lines += [f"  {p.option}: {p.note}" for p in self if p.settable and p.note != "kept as set"]
        return "\n".join(lines)

    __str__ = __repr__


class Agreement(NamedTuple):
    """One option of a comparison: our default, the other program's answer, and whether they agree."""

    option: str
    ours: str
    theirs: str
    same: bool


class Comparison(list):
    """Rows of Agreement that show themselves as a text table, and say how many agree."""

    @property
    def agreeing(self) -> int:
        return sum(row.same for row in self)

    def __repr__(self) -> str:
        rows = [("option", "Python (probe_all)", "the other program", "same")]
        rows += [(r.option, r.ours, r.theirs, "yes" if r.same else "NO") for r in self]
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in rows]
        return "\n".join(lines + [f"{self.agreeing} of {len(self)} options agree."])

    __str__ = __repr__


def _shown_default(p: Probe) -> str:
    if not p.exists:
        return "not on this system"
    if not p.readable:
        return f"errno {p.errno}"
    if isinstance(p.default, bytes):
        return f"{len(p.default)} bytes"
    return repr(p.default) if not isinstance(p.default, float) else f"{p.default:g}"


def probe_all(sock_type=socket.SOCK_STREAM) -> OptionTable:
    """probe() for every option of the table, each on its own fresh socket: the live table of chapter 07."""
    kind = _socket_type(sock_type)
    return OptionTable(probe(opt, kind) for opt in OPTIONS)
