"""Tables of what this machine's `socket` module offers: families, types and protocols, each tried for real.

`socket(family, type, proto)` takes three numbers. Which names exist, what
their numbers are, and whether the kernel will make such a socket all depend
on the operating system, how Python was built, and what the process may do.
So nothing here is a fixed list of answers: every row looks the name up in
the `socket` module and, if it is there, creates that socket and closes it at
once (nothing is bound, connected or sent). A name the module lacks is
reported as "not in this Python", never as an error.
"""

from __future__ import annotations

import difflib
import errno
import socket
from dataclasses import dataclass

#: The word a row shows when the socket could be made.
WORKS = "yes"
#: The words a row shows when the socket module lacks a name.
NOT_HERE = "not in this Python"

# name -> (what it is, in a few words; the (family, type, proto) tried for it)
_FAMILIES = {
    "AF_INET": ("IPv4: (address, port)", ("AF_INET", "SOCK_DGRAM", 0)),
    "AF_INET6": ("IPv6: (address, port, flow, scope)", ("AF_INET6", "SOCK_DGRAM", 0)),
    "AF_UNIX": ("processes on one machine: a path", ("AF_UNIX", "SOCK_DGRAM", 0)),
    "AF_CAN": ("CAN bus of cars and machines", ("AF_CAN", "SOCK_RAW", "CAN_RAW")),
    "AF_BLUETOOTH": ("Bluetooth devices", ("AF_BLUETOOTH", "SOCK_STREAM", "BTPROTO_RFCOMM")),
}
_TYPES = {
    "SOCK_STREAM": ("a reliable byte stream (TCP)", ("AF_INET", "SOCK_STREAM", 0)),
    "SOCK_DGRAM": ("separate datagrams, no promises (UDP)", ("AF_INET", "SOCK_DGRAM", 0)),
    "SOCK_RAW": ("whole IP packets, headers and all", ("AF_INET", "SOCK_RAW", "IPPROTO_ICMP")),
    "SOCK_SEQPACKET": ("reliable, ordered messages", ("AF_UNIX", "SOCK_SEQPACKET", 0)),
}
_PROTOCOLS = {
    "IPPROTO_TCP": ("TCP, RFC 9293", ("AF_INET", "SOCK_STREAM", "IPPROTO_TCP")),
    "IPPROTO_UDP": ("UDP, RFC 768", ("AF_INET", "SOCK_DGRAM", "IPPROTO_UDP")),
    "IPPROTO_SCTP": ("SCTP, RFC 9260", ("AF_INET", "SOCK_STREAM", "IPPROTO_SCTP")),
}

# Why the kernel said no, for the errors a learner meets here.
_WHY = {
    errno.EAFNOSUPPORT: "the kernel has no support for this family loaded",
    errno.EPROTONOSUPPORT: "the kernel has no support for this protocol loaded",
    errno.ESOCKTNOSUPPORT: "this family has no such socket type",
    errno.EPERM: "only root (or CAP_NET_RAW) may do this",
    errno.EACCES: "only root (or CAP_NET_RAW) may do this",
}
# Windows and some BSDs have these under other numbers or not at all.
for _name in ("EOPNOTSUPP", "EPFNOSUPPORT"):
    if hasattr(errno, _name):
        _WHY.setdefault(getattr(errno, _name), "this family or type is not supported here")


@dataclass(frozen=True)
class Row:
    """One name of the socket module, its number, and what happened when we tried it."""

    name: str
    meaning: str
    value: int | None  # None: this Python's socket module has no such name
    tried: str         # the call that was tried, e.g. "socket(AF_INET, SOCK_DGRAM)"
    result: str        # WORKS, or a short "no (EAFNOSUPPORT)"
    detail: str = ""   # for a "no": the kernel's words and what they mean

    @property
    def available(self) -> bool:
        return self.value is not None

    @property
    def works(self) -> bool:
        return self.result == WORKS


class SocketTable(list):
    """A list of Row that shows itself as a small text table."""

    columns = ("name", "value", "what it is", "tried as", "works here")

    def names(self) -> list[str]:
        return [row.name for row in self]

    def row(self, name: str) -> Row:
        """The row of one name, e.g. table.row('AF_INET')."""
        for row in self:
            if row.name == name:
                return row
        raise KeyError(f"This table has no row {name!r}; it has {', '.join(self.names())}.")

    def __repr__(self) -> str:
        if not self:
            return "(an empty table)"
        rows = [self.columns] + [
            (r.name, "-" if r.value is None else str(r.value), r.meaning, r.tried or "-", r.result)
            for r in self
        ]
        widths = [max(len(row[i]) for row in rows) for i in range(len(self.columns))]
        lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
        # The kernel's full answer would make the table too wide: it goes below, one line a "no".
        lines += [f"  {r.name}: {r.detail}" for r in self if r.detail]
        return "\n".join(lines)

    __str__ = __repr__


# -- looking names up --------------------------------------------------------------
def _known_names(prefix: str) -> list[str]:
    return sorted(name for name in dir(socket) if name.startswith(prefix) and name.isupper())


def constant(name, prefix: str = "") -> int | None:
    """The number behind a socket module name ('AF_INET' -> 2), or None if this Python lacks it.

    A number is passed through, so callers may mix names and numbers. A name
    that does not even look like one of the module's is a mistake, not a
    missing feature, and raises a ValueError that says so.
    """
    if isinstance(name, bool):
        raise TypeError(f"Expected a socket constant's name or number, but got {name!r}; "
                        f"for example 'AF_INET' or socket.AF_INET.")
    if isinstance(name, int):
        return int(name)
    if not isinstance(name, str):
        raise TypeError(f"Expected a socket constant's name or number, but got {name!r} "
                        f"(type {type(name).__name__}); for example 'AF_INET' or socket.AF_INET.")
    if hasattr(socket, name) and isinstance(getattr(socket, name), int):
        return int(getattr(socket, name))
    known = set(_FAMILIES) | set(_TYPES) | set(_PROTOCOLS) | {"CAN_RAW", "BTPROTO_RFCOMM", "IPPROTO_ICMP"}
    if name in known:
        return None  # a real name that this build or OS leaves out
    pool = _known_names(prefix) if prefix else sorted(known)
    close = difflib.get_close_matches(name, pool + sorted(known), n=1)
    hint = f"did you mean {close[0]!r}?" if close else "names are upper case, such as 'AF_INET'"
    raise ValueError(f"The socket module has no constant {name!r}; expected a name such as "
                     f"'AF_INET', 'SOCK_DGRAM' or 'IPPROTO_UDP' ({hint}).")


def _call_text(family, kind, proto) -> str:
    parts = [str(family), str(kind)] + ([str(proto)] if proto not in (0, "0") else [])
    return f"socket({', '.join(parts)})"


def attempt(family, kind, proto=0) -> tuple[str, str]:
    """Create a socket(family, kind, proto) and close it at once.

    Each argument is a name ('AF_INET') or a number; nothing is bound or sent.
    Returns (result, detail): (WORKS, "") or a short "no (ENAME)" with the
    kernel's words and what they mean.
    """
    numbers = [constant(family, "AF_"), constant(kind, "SOCK_"), constant(proto, "")]
    missing = [str(name) for name, number in zip((family, kind, proto), numbers) if number is None]
    if missing:
        return NOT_HERE, f"this Python's socket module has no {missing[0]}"
    try:
        probe = socket.socket(*numbers)
    except OSError as exc:
        name = errno.errorcode.get(exc.errno, f"errno {exc.errno}")
        why = _WHY.get(exc.errno)
        said = exc.strerror or str(exc)
        return f"no ({name})", f"{said}: {why}" if why else said
    probe.close()
    return WORKS, ""


def try_socket(family, kind, proto=0) -> str:
    """Whether socket(family, kind, proto) can be made here: WORKS, or a sentence saying why not."""
    result, detail = attempt(family, kind, proto)
    return result if result == WORKS else f"{result}: {detail}"


def _table(spec: dict, prefix: str) -> SocketTable:
    rows = []
    for name, (meaning, (family, kind, proto)) in spec.items():
        value = constant(name, prefix)
        if value is None:
            # CPython defines a name only where the OS headers it was built with have it.
            rows.append(Row(name, meaning, None, "", NOT_HERE,
                            f"this Python has no {name} (built without the headers or the support)"))
            continue
        result, detail = attempt(family, kind, proto)
        rows.append(Row(name, meaning, value, _call_text(family, kind, proto), result, detail))
    return SocketTable(rows)


def families() -> SocketTable:
    """Address families (the first argument of socket()), as this machine has them."""
    return _table(_FAMILIES, "AF_")


def types() -> SocketTable:
    """Socket types (the second argument of socket()), as this machine has them."""
    return _table(_TYPES, "SOCK_")


def protocols() -> SocketTable:
    """Protocols (the third argument of socket()), as this machine has them."""
    return _table(_PROTOCOLS, "IPPROTO_")
