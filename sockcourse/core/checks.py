"""The checks of arguments, written once: each returns the value it accepts or raises one whole sentence.

Every public function of the course checks what a learner passes before it
opens any socket, with these few functions, so that the same mistake gets
the same words everywhere. A message names the value it got, says what was
expected and gives one hint; it is raised from the check itself, so the
learner sees one short traceback, never a chain from deep inside.

Numbers are refused when they are not finite: NaN and infinity look like
numbers but make a timeout or a count meaningless (a wait of `inf` seconds
never ends, `nan < 5` is False), so "no limit" is always spelled None.
"""

from __future__ import annotations

import ipaddress
import math
import numbers
import os
import re
import sys

from .errors import ArgumentError, ArgumentTypeError, MissingFileError

#: Longest UNIX socket path in bytes: sun_path holds 108 bytes on Linux and
#: 104 on macOS and the BSDs (see unix(7) and unix(4)), one of them the
#: terminating NUL byte.
MAX_UNIX_PATH = 107 if sys.platform.startswith("linux") else 103

LOOPBACK_HINT = "use host='127.0.0.1' (IPv4 loopback) or host='::1' (IPv6 loopback)"

#: The largest accept queue the course asks listen() for: the kernel caps it at
#: net.core.somaxconn anyway (4096 by default since Linux 5.4), and a bigger
#: number overflows the C int that listen() takes.
MAX_BACKLOG = 65535

#: The longest wait any course function accepts, in seconds (30 days): a longer
#: one is surely a slip, and the C APIs below overflow somewhere past 10**9 s.
#: No limit at all is spelled None.
MAX_SECONDS = 30 * 24 * 3600

#: What a certificate label may look like: a plain name, never a path.
_LABEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,62}")


def _kind(value) -> str:
    return type(value).__name__


def check_whole(value, what: str, *, low: int | None = None, high: int | None = None,
                example=None, hint: str | None = None) -> int:
    """Return `value` if it is a whole number within [low, high]; raise a sentence otherwise."""
    span = _span(low, high)
    advice = hint or f"for example {what}={example if example is not None else (low or 0)}"
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ArgumentError(f"The {what} must be a whole number{span}, but got {value!r} (type {_kind(value)}); "
                            f"{advice}.")
    if (low is not None and value < low) or (high is not None and value > high):
        raise ArgumentError(f"The {what} must be a whole number{span}, but got {value!r}; {advice}.")
    return int(value)


def _span(low, high) -> str:
    if low is not None and high is not None:
        return f" from {low:,} to {high:,}"
    if low is not None:
        return f" of {low:,} or more"
    if high is not None:
        return f" of at most {high:,}"
    return ""


def check_number(value, what: str, *, low: float | None = None, high: float | None = None,
                 above: float | None = None, example=None) -> float:
    """Return `value` as a float if it is a finite real number in range; raise a sentence otherwise.

    `low`/`high` are inclusive bounds, `above` an exclusive lower bound.
    """
    example = f"for example {what}={example if example is not None else 1.0}"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ArgumentTypeError(f"The {what} must be a number, but got {value!r} (type {_kind(value)}); {example}.")
    if not math.isfinite(value):
        raise ArgumentError(f"The {what} must be a finite number, but got {value!r}; {example}.")
    if (low is not None and value < low) or (high is not None and value > high) \
            or (above is not None and value <= above):
        if above is not None:
            wanted = f"above {above}" + (f" and at most {high}" if high is not None else "")
        else:
            wanted = f"from {low} to {high}" if low is not None and high is not None else (
                f"of {low} or more" if low is not None else f"of at most {high}")
        raise ArgumentError(f"The {what} must be a number {wanted}, but got {value!r}; {example}.")
    return float(value)


def check_seconds(value, what: str, *, none_ok: bool = True, maximum: float | None = None,
                  example: float = 5.0) -> float | None:
    """Return a positive, finite number of seconds (or None, meaning no limit); raise a sentence otherwise.

    NaN and infinity are refused: a limit that never ends is spelled None.
    """
    none = " or None" if none_ok else ""
    maximum = MAX_SECONDS if maximum is None else maximum
    limit = f" of at most {maximum:,}" if maximum != MAX_SECONDS else ""
    no_limit = "; use None for no limit" if none_ok else ""
    if value is None and none_ok:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ArgumentError(f"The {what} must be a positive number of seconds{limit}{none}, but got {value!r} "
                            f"(type {_kind(value)}); for example {what}={example}{no_limit}.")
    if not math.isfinite(value):
        raise ArgumentError(f"The {what} must be a finite number of seconds, but got {value!r}; "
                            f"for example {what}={example}{no_limit}.")
    if value <= 0 or value > maximum:
        limit = f" of at most {maximum:,}"
        raise ArgumentError(f"The {what} must be a positive number of seconds{limit}{none}, but got {value!r}; "
                            f"for example {what}={example}{no_limit}.")
    return float(value)


def check_timeout(value, what: str = "timeout") -> float | None:
    """A timeout: positive and finite seconds, or None for no limit."""
    return check_seconds(value, what)


def check_flag(value, what: str) -> bool:
    """Return `value` if it is True or False; raise a sentence otherwise."""
    if not isinstance(value, bool):
        raise ArgumentTypeError(f"The {what} must be True or False, but got {value!r} (type {_kind(value)}); "
                                f"for example {what}=True.")
    return value


def check_choice(value, what: str, choices, *, example=None):
    """Return `value` if it is one of `choices`; raise a sentence that lists them otherwise."""
    choices = tuple(choices)
    try:
        known = value in choices
    except TypeError:  # an unhashable value (a list) asked of a dict's keys
        known = False
    if not known:
        listed = ", ".join(map(repr, choices))
        shown = example if example is not None else choices[0]
        raise ArgumentError(f"Unknown {what} {value!r}; expected one of {listed} (for example {what}={shown!r}).")
    return value


def check_port(port) -> int:
    """Return `port` if it is a whole number from 0 to 65535; raise otherwise."""
    if isinstance(port, bool) or not isinstance(port, numbers.Integral):
        digits = isinstance(port, str) and port.strip().isascii() and port.strip().isdigit()
        hint = f"pass port={int(port)}, or port=0" if digits else "pass port=0"
        raise ArgumentTypeError(
            f"The port must be a whole number from 0 to 65535, but got {port!r} "
            f"(type {_kind(port)}); {hint} to let the kernel choose a free port.")
    if not 0 <= port <= 65535:
        raise ArgumentError(
            f"The port {port} is out of range: TCP and UDP ports go from 0 to 65535 "
            f"(16 bits); use port=0 to let the kernel choose a free port.")
    return int(port)


def check_loopback_host(host) -> str:
    """Return `host` as an address string if it is a loopback address; raise otherwise.

    The course only ever listens on and talks to this machine's loopback
    interface, so that no exercise sends traffic onto a real network. The
    check is pure: it looks at the text, never at a resolver or a socket.
    """
    if not isinstance(host, str):
        raise ArgumentTypeError(f"The host must be a string such as '127.0.0.1', but got {host!r}; "
                                f"{LOOPBACK_HINT}.")
    if host == "localhost":
        return "127.0.0.1"
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        raise ArgumentError(
            f"The host {host!r} is not an IP address; the course listens on and connects to "
            f"loopback addresses only, so {LOOPBACK_HINT}.") from None
    if address.is_unspecified:
        raise ArgumentError(
            f"The host {host!r} would listen on every network interface of this machine, "
            f"but the course listens on loopback only; {LOOPBACK_HINT}.")
    if not address.is_loopback:
        raise ArgumentError(
            f"The host {host!r} is not a loopback address, and the course never uses "
            f"other networks; {LOOPBACK_HINT}.")
    return str(address)


def check_unix_path(path) -> str:
    """Return `path` as a string if it can name a UNIX socket here; raise otherwise.

    A path starting with a NUL byte is a Linux abstract-namespace name.
    """
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    if isinstance(path, os.PathLike):
        path = os.fspath(path)
    if not isinstance(path, str) or not path:
        raise ArgumentTypeError(
            f"A UNIX socket path must be a non-empty string or path, but got {path!r}; "
            f"leave the path out and the course makes one in a private temporary directory.")
    size = len(os.fsencode(path))
    if size > MAX_UNIX_PATH:
        raise ArgumentError(
            f"The UNIX socket path {path!r} is {size} bytes long, but this OS allows at most "
            f"{MAX_UNIX_PATH}; use a shorter path (for example in /tmp), or leave the path out "
            f"and the course makes a short one in a private temporary directory.")
    if path.startswith("\0") and not sys.platform.startswith("linux"):
        raise ArgumentError(
            f"The path {path!r} starts with a NUL byte, which names a socket in Linux's "
            f"abstract namespace, and this OS ({sys.platform}) has none; use a file path instead.")
    return path


def check_backlog(backlog, default: int = 128) -> int:
    """Return `backlog` if listen() can take it (0 to MAX_BACKLOG); raise a sentence otherwise."""
    if isinstance(backlog, bool) or not isinstance(backlog, numbers.Integral) \
            or not 0 <= backlog <= MAX_BACKLOG:
        raise ArgumentError(f"The backlog must be a whole number from 0 to {MAX_BACKLOG}, but got {backlog!r}; "
                            f"the default is {default} (the kernel caps it at net.core.somaxconn anyway).")
    return int(backlog)


def check_label(label, what: str = "label") -> str:
    """Return `label` if it is a plain name (letters, digits, '-' and '_'); raise a sentence otherwise.

    Labels become file names inside a private directory, so a path (with '/'
    or '..') must never pass.
    """
    if not isinstance(label, str):
        raise ArgumentTypeError(f"The {what} must be a short name such as 'server', but got {label!r} "
                                f"(type {_kind(label)}); for example {what}='alice'.")
    if not _LABEL.fullmatch(label):
        raise ArgumentError(f"The {what} {label!r} is not a plain name: use 1 to 63 letters, digits, '-' or '_', "
                            f"starting with a letter or digit (no spaces, dots or slashes); for example "
                            f"{what}='alice'.")
    return label


def check_path(path, what: str, *, example: str, exists: bool = False, hint: str = "check the path") -> str:
    """Return `path` (a str, bytes or os.PathLike) as a string; with `exists`, it must name a file.

    `example` completes "for example ..." in the type error; `hint` is the
    advice when the file does not exist.
    """
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    if isinstance(path, os.PathLike):
        path = os.fspath(path)
    if not isinstance(path, str) or not path:
        raise ArgumentTypeError(f"The {what} must be a path, but got {path!r} (type {_kind(path)}); "
                                f"for example {example}.")
    if exists and not os.path.isfile(path):
        raise MissingFileError(f"The {what} {path!r} does not exist (or is not a file); {hint}.")
    return path


def check_name(name, what: str = "name") -> str:
    """Return `name` if it is a non-empty string (a server's name, by which a namesake is replaced)."""
    if not isinstance(name, str) or not name.strip():
        raise ArgumentTypeError(f"The {what} must be a non-empty string such as 'echo-server', but got {name!r}; "
                                f"leave it out unless a re-started server should replace the running one.")
    return name


def check_target(to, what: str = "server") -> tuple[str, int]:
    """Where to connect: a running thing's `.address`, or (host, port) on loopback with a real port.

    Anything with an `address` of (host, port) is taken by its shape, so a
    lower layer never imports the type of a higher one's handle.
    """
    address = getattr(to, "address", to)
    if not (isinstance(address, tuple) and len(address) >= 2):
        raise ArgumentTypeError(f"The {what} to reach must be a running server or a (host, port) pair, but got "
                                f"{to!r}; for example pass server, or ('127.0.0.1', server.port).")
    host = check_loopback_host(address[0])
    port = check_port(address[1])
    if port == 0:
        raise ArgumentError(f"Port 0 is not an address to connect to: it asks the kernel for a free port when "
                            f"binding; pass the port the {what} reports (server.port).")
    return host, port


def check_listen_address(transport: str, host, port, path, *, unix: bool) -> tuple[str | None, int, str | None]:
    """(host, port, path) for a server of `transport`, checked: a UNIX one takes a path, an IP one host and port.

    host None means '127.0.0.1'; path None (UNIX) means a private temporary one.
    """
    if unix:
        if host is not None or port != 0:
            raise ArgumentError(
                f"A {transport!r} server is named by a path, not by host and port (got host={host!r}, "
                f"port={port!r}); pass path='...' or nothing at all.")
        return None, 0, None if path is None else check_unix_path(path)
    if path is not None:
        raise ArgumentError(
            f"A {transport!r} server listens on a host and port, not on a path (got path={path!r}); "
            f"use transport='unix' for a path.")
    return check_loopback_host("127.0.0.1" if host is None else host), check_port(port), None
