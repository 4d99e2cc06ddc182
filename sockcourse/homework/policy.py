"""Loopback only, while grading: which addresses a grading kernel's sockets may use, and the hook that says no.

Every homework exercise runs on this machine: loopback addresses
(127.0.0.0/8, ::1) and UNIX socket paths. While the grader runs a
submission, nothing should leave the machine, even by accident (a
hard-coded address copied from a tutorial, a name to look up). So the
grading kernel installs an audit hook (PEP 578) that refuses, before the
system call, any `connect`, `sendto`, `sendmsg` or `bind` aimed elsewhere,
and any name lookup that would ask a DNS server.

- `allowed(address)` is the decision as a pure function: True, or the
  sentence that explains the refusal (a non-empty string, which is also
  truthy: compare with `is True`).
- `install(extra_refused=())` adds the hook to this interpreter. Audit hooks
  cannot be removed (the Python docs say so), so a second call only changes
  the extra addresses it refuses; the tests use that to make one loopback
  address, such as 127.0.0.2, stand in for "another machine" and see the
  refusal happen without ever aiming at one.

This is a guard against accidents, not a sandbox: the Python documentation
says audit hooks "are not suitable for implementing a sandbox", and code
in the kernel can start a program that sockets freely. Untrusted work is
graded in a container without a network (see `sockcourse.homework.grade`).
"""

from __future__ import annotations

import ipaddress
import os
import socket
import sys

#: The one command for grading work you do not trust: no network, the submissions read-only.
#: (Here, not in grade.py, so that the command line can show it without loading nbformat.)
DOCKER_COMMAND = ('docker run --rm --network none -v "$PWD/subs:/subs:ro" -v "$PWD/out:/out" IMAGE '
                  'python -m sockcourse grade /subs --out /out/grades.csv')

__all__ = ["EVENTS", "allowed", "install", "installed"]

#: The audit events the hook looks at (names from the Python docs' audit events table).
EVENTS = ("socket.connect", "socket.sendto", "socket.sendmsg", "socket.bind", "socket.getaddrinfo",
          "socket.gethostbyname", "socket.gethostbyaddr", "socket.getnameinfo")

#: What each event asks, for the sentence.
_ACTIONS = {
    "socket.connect": "connect to",
    "socket.sendto": "send to",
    "socket.sendmsg": "send to",
    "socket.bind": "bind to",
    "socket.getaddrinfo": "look up",
    "socket.gethostbyname": "look up",
    "socket.gethostbyaddr": "look up the name of",
    "socket.getnameinfo": "look up the name of",
}

#: Names that never need a DNS server: the C library answers them from /etc/hosts or by rule.
_LOCAL_NAMES = {"localhost", "localhost.", "ip6-localhost", "ip6-loopback"}

#: Families whose addresses are not on any network: UNIX sockets and the kernel's own netlink
#: (chapter 07's socket tables read it).
_LOCAL_FAMILIES = {getattr(socket, name) for name in ("AF_UNIX", "AF_NETLINK") if hasattr(socket, name)}
_IP_FAMILIES = {socket.AF_INET, socket.AF_INET6}

_RULE = ("while grading, sockets may only use this machine's loopback interface (127.0.0.1, ::1) "
         "and UNIX socket paths; this exercise needs no other network")


def _ip(host):
    """The ipaddress object for `host`, an IPv4-mapped IPv6 address as its IPv4 one; None for a name."""
    text = host.decode("ascii", "replace") if isinstance(host, (bytes, bytearray)) else str(host)
    text = text.strip().strip("[]").split("%", 1)[0]  # '[::1]' and 'fe80::1%eth0' spellings
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def _normalised(hosts) -> frozenset:
    """The extra refused hosts as ipaddress objects (or lower-case names), so spellings compare equal."""
    found = set()
    for host in hosts:
        ip = _ip(host)
        found.add(ip if ip is not None else str(host).strip().lower())
    return frozenset(found)


def _shown(address) -> str:
    if isinstance(address, tuple) and len(address) >= 2 and isinstance(address[0], (str, bytes)):
        host = address[0].decode("ascii", "replace") if isinstance(address[0], bytes) else address[0]
        return f"[{host}]:{address[1]}" if ":" in host else f"{host}:{address[1]}"
    return repr(address)


def allowed(address, *, family=None, event: str = "socket.connect", extra_refused=()) -> bool | str:
    """True if a grading kernel may use `address` for `event`, else one sentence saying why not.

    address: what the socket call got: a (host, port[, flowinfo, scope_id])
        tuple, a UNIX path (str, bytes or os.PathLike), or, for a name lookup,
        the host alone.
    family: the socket's address family, when known (the hook passes it);
        without it the shape of `address` decides.
    event: the audit event's name, such as "socket.bind" (see EVENTS). Only
        bind may use a wildcard address (0.0.0.0, ::), which listens on this
        machine and sends nothing.
    extra_refused: hosts refused even though they are loopback (for tests).
    """
    action = _ACTIONS.get(event, "use")
    extra = extra_refused if isinstance(extra_refused, frozenset) else _normalised(extra_refused)
    lookup = event in ("socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyaddr",
                       "socket.getnameinfo")

    if family is not None and family in _LOCAL_FAMILIES:
        return True
    if family is not None and family not in _IP_FAMILIES:
        return (f"The grader refused to {action} {address!r} on a socket of family {family!r}: {_RULE}; "
                f"use a TCP or UDP socket on 127.0.0.1, or a UNIX socket.")
    if address is None:
        # sendmsg() without an address on a connected socket, or getaddrinfo(None, port): the
        # destination was checked when the socket connected, or it is loopback by definition.
        return True
    if family is None and not lookup and isinstance(address, (str, bytes, bytearray, os.PathLike)):
        return True  # a UNIX socket path
    if lookup:
        host = address[0] if isinstance(address, tuple) and address else address
        shown = repr(host.decode("ascii", "replace") if isinstance(host, (bytes, bytearray)) else host)
    elif isinstance(address, tuple) and address:
        host, shown = address[0], _shown(address)
    else:
        return (f"The grader refused to {action} {address!r}: that is not an address it understands, and "
                f"{_RULE}; pass a (host, port) tuple such as ('127.0.0.1', port).")

    if host is None or host in ("", b""):
        return True  # the wildcard, or "this machine": nothing leaves it
    if not isinstance(host, (str, bytes, bytearray)):
        return f"The grader refused to {action} {shown}: the host must be text, and {_RULE}."
    ip = _ip(host)
    if ip is None:
        name = (host.decode("ascii", "replace") if isinstance(host, (bytes, bytearray)) else host).strip().lower()
        if name in _LOCAL_NAMES and name not in extra:
            return True
        return (f"The grader refused to {action} {shown}: {name!r} is a name that would have to be looked up, "
                f"and {_RULE}; use the address 127.0.0.1 (or ::1) instead.")
    if ip in extra:
        return f"The grader refused to {action} {shown}: this grading run treats {ip} as another machine, and {_RULE}."
    if ip.is_loopback:
        return True
    if ip.is_unspecified and (event == "socket.bind" or lookup):
        return True  # listening on every interface of this machine sends nothing anywhere
    return (f"The grader refused to {action} {shown}: {ip} is not a loopback address, and {_RULE}; "
            f"use 127.0.0.1 instead.")


# -- the hook -------------------------------------------------------------------------------
_state = {"installed": False, "extra": frozenset()}


def _hook(event: str, args: tuple) -> None:
    if event not in _ACTIONS:
        return
    if event in ("socket.connect", "socket.sendto", "socket.sendmsg", "socket.bind"):
        sock, address = args[0], args[1]
        verdict = allowed(address, family=getattr(sock, "family", None), event=event, extra_refused=_state["extra"])
    elif event == "socket.getnameinfo":
        verdict = allowed(args[0], event=event, extra_refused=_state["extra"])
    else:
        verdict = allowed(args[0] if args else None, event=event, extra_refused=_state["extra"])
    if verdict is not True:
        # A PermissionError, as the OS itself says when it refuses: the student's report shows it by that name.
        raise PermissionError(verdict)


def install(extra_refused=()) -> None:
    """Refuse, from now on in this interpreter, every socket use that `allowed()` refuses.

    A second call keeps the one hook and replaces the extra refused hosts.
    """
    _state["extra"] = _normalised(extra_refused)
    if not _state["installed"]:
        sys.addaudithook(_hook)
        _state["installed"] = True


def installed() -> bool:
    """Whether this interpreter has the hook (it stays for the interpreter's life)."""
    return _state["installed"]
