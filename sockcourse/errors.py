"""The course's errors, and the checks of arguments that raise them.

Every message is a whole sentence that names the value it got, says what was
expected and gives one hint. The checks live here so that servers, the link
and the command line refuse bad input in the same words.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import sys


class SockcourseError(Exception):
    """Base class of the errors this package raises on purpose."""


class HandlerError(SockcourseError):
    """A server's handler raised; re-raised at stop() with the handler's error as cause."""


def handler_failure(name: str, errors: list) -> HandlerError:
    """The error stop() raises for the first of a handler's kept errors.

    `errors` holds (connection number, peer, exception); number 0 means a datagram.
    """
    number, peer, exc = errors[0]
    where = f"connection #{number} from {peer}" if number else f"a datagram from {peer}"
    more = f" (and {len(errors) - 1} more errors; see server.trace)" if len(errors) > 1 else ""
    failure = HandlerError(
        f"The handler {name!r} raised {type(exc).__name__}: {exc} while serving {where}{more}; "
        f"the handler's own traceback, shown with this error, points at the line.")
    failure.__cause__ = exc
    return failure


class AddressInUseError(SockcourseError, OSError):
    """The address a server asked for is taken by another socket."""

    def __init__(self, message: str):
        super().__init__(message)
        self.errno = errno.EADDRINUSE


#: Longest UNIX socket path in bytes: sun_path holds 108 bytes on Linux and
#: 104 on macOS and the BSDs (see unix(7) and unix(4)), one of them the
#: terminating NUL byte.
MAX_UNIX_PATH = 107 if sys.platform.startswith("linux") else 103

LOOPBACK_HINT = "use host='127.0.0.1' (IPv4 loopback) or host='::1' (IPv6 loopback)"


def check_port(port) -> int:
    """Return `port` if it is a whole number from 0 to 65535; raise otherwise."""
    if isinstance(port, bool) or not isinstance(port, int):
        hint = f"port={int(port)}" if isinstance(port, str) and port.strip().isdigit() else "port=0"
        raise TypeError(
            f"The port must be a whole number from 0 to 65535, but got {port!r} "
            f"(a {type(port).__name__}); pass {hint}, or port=0 to let the kernel choose a free port."
        )
    if not 0 <= port <= 65535:
        raise ValueError(
            f"The port {port} is out of range: TCP and UDP ports go from 0 to 65535 "
            f"(16 bits); use port=0 to let the kernel choose a free port."
        )
    return port


def check_loopback_host(host) -> str:
    """Return `host` as an address string if it is a loopback address; raise otherwise.

    The course only ever listens on and talks to this machine's loopback
    interface, so that no exercise sends traffic onto a real network.
    """
    if not isinstance(host, str):
        raise TypeError(f"The host must be a string such as '127.0.0.1', but got {host!r}; {LOOPBACK_HINT}.")
    if host == "localhost":
        return "127.0.0.1"
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        raise ValueError(
            f"The host {host!r} is not an IP address; the course listens on loopback "
            f"addresses only, so {LOOPBACK_HINT}."
        ) from None
    if address.is_unspecified:
        raise ValueError(
            f"The host {host!r} would listen on every network interface of this machine, "
            f"but the course listens on loopback only; {LOOPBACK_HINT}."
        )
    if not address.is_loopback:
        raise ValueError(
            f"The host {host!r} is not a loopback address, and the course never uses "
            f"other networks; {LOOPBACK_HINT}."
        )
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
        raise TypeError(
            f"A UNIX socket path must be a non-empty string or path, but got {path!r}; "
            f"leave path=None and the course makes one in a private temporary directory."
        )
    size = len(os.fsencode(path))
    if size > MAX_UNIX_PATH:
        raise ValueError(
            f"The UNIX socket path {path!r} is {size} bytes long, but this OS allows at most "
            f"{MAX_UNIX_PATH}; use a shorter path (for example in /tmp), or leave path=None "
            f"and the course makes a short one in a private temporary directory."
        )
    if path.startswith("\0") and not sys.platform.startswith("linux"):
        raise ValueError(
            f"The path {path!r} starts with a NUL byte, which names a socket in Linux's "
            f"abstract namespace, and this OS ({sys.platform}) has none; use a file path instead."
        )
    return path


def check_timeout(value, what: str) -> float | None:
    """Return `value` as seconds (or None for no limit); raise on anything else."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ValueError(
            f"The {what} must be a positive number of seconds or None, but got {value!r}; "
            f"for example {what}=5.0."
        )
    return float(value)
