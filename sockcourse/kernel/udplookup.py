"""Which UDP socket the kernel hands a datagram to, and which sender hears the ICMP error: one real experiment.

Chapter 02 shows in text that a connected UDP socket takes datagrams only
from its peer, and that only a connected sender hears about an ICMP "port
unreachable". `run()` does both on one port, with real sockets on
127.0.0.1, and returns what happened to each datagram as plain data, for
`sockcourse.viz.udp_lookup` to draw.

The set-up:

- two receiving sockets share one port (both set SO_REUSEADDR, which is
  what lets a second UDP socket bind a port that is taken; the first sets it
  only after its bind(), so its port was free of everyone else's sockets):
  "connected", connected to the peer, and "unconnected", which takes
  anyone's datagrams;
- three senders: the "peer" (connected to the port), "stranger 1" (also
  connected to the port) and "stranger 2" (not connected; it uses sendto());
- six datagrams, one at a time: the peer, stranger 2 and stranger 1 send
  one each; then the unconnected socket is closed, and stranger 1,
  stranger 2 and the peer send again.

For each datagram the kernel looks for the best socket on the port. A
connected socket is a candidate only for datagrams from its own peer, and
then it beats an unconnected one (`compute_score()` in net/ipv4/udp.c,
Linux 6.6). A
datagram no socket takes is dropped, and the kernel answers it with an ICMP
port unreachable. That error is reported to the sending socket only if the
socket is connected or has set IP_RECVERR (`__udp4_lib_err()`, same file;
ip(7) for IP_RECVERR): its next call then fails with ECONNREFUSED.

What is recorded comes from the kernel, never from these rules: which
socket's recv() returned each datagram (matched by its payload), what each
sender's recv() said, and how much the kernel's count of ICMP "destination
unreachable" messages sent (OutDestUnreachs in /proc/net/snmp, see proc(5))
rose while each datagram was under way. That count is for the whole
network namespace, so another program's traffic could add to it; on
loopback, with nothing else running, it is exact.

Linux only: other systems share UDP ports by other rules (SO_REUSEPORT).
Every socket binds 127.0.0.1 with port 0 (the second receiver then binds
the port the first one got), every wait is bounded by `wait`, and every
socket is closed by the time run() returns, also when a step fails.
"""

from __future__ import annotations

import contextlib
import errno
import platform
import selectors
import socket
import struct
import sys
from dataclasses import asdict, dataclass

from ..core.checks import check_flag, check_seconds
from ..core.errors import UsageError

__all__ = ["Datagram", "LookupResult", "MAX_WAIT", "PLAN", "RECEIVERS", "SENDERS", "UdpLookupUnavailable", "run",
           "unavailable"]

HOST = "127.0.0.1"

#: The receiving sockets on the shared port, and the sender each is connected to (None: not connected).
RECEIVERS = {"connected": "peer", "unconnected": None}

#: The senders, and whether each one connect()s to the port (True) or uses sendto() (False).
SENDERS = {"peer": True, "stranger 1": True, "stranger 2": False}

#: The experiment, step by step: ("send", sender) sends one datagram, ("close", receiver) closes that socket.
PLAN = (("send", "peer"), ("send", "stranger 2"), ("send", "stranger 1"), ("close", "unconnected"),
        ("send", "stranger 1"), ("send", "stranger 2"), ("send", "peer"))

#: The longest wait run() accepts for "nothing came", in seconds.
MAX_WAIT = 2.0

#: Python 3.11's socket module lacks the name; Linux's include/uapi/linux/in.h defines it as 11.
IP_RECVERR = getattr(socket, "IP_RECVERR", 11)

# struct sock_extended_err (ip(7)): ee_errno, ee_origin, ee_type, ee_code, ee_pad, ee_info, ee_data.
_EXTENDED_ERR = struct.Struct("=IBBBBII")
_ORIGIN_ICMP = 2
# Bounds on the reads of one step: a socket here is never sent more than one datagram per step.
_MAX_READS = 8


class UdpLookupUnavailable(UsageError):
    """This system cannot run the experiment as Linux runs it; the message says why."""


@dataclass(frozen=True)
class Datagram:
    """What became of one datagram."""

    number: int                  # 1, 2, ... in the order sent
    sender: str                  # a name from SENDERS
    open: tuple[str, ...]        # the receiving sockets open on the port when it was sent
    received_by: str | None      # the receiving socket whose recv() returned it; None: no socket got it
    sender_saw: str | None       # what the sender's next recv() raised ("ECONNREFUSED"), or None: nothing
    icmp_sent: int | None        # how much OutDestUnreachs rose meanwhile; None where it cannot be read
    icmp_reported: tuple[int, int] | None = None  # (type, code) from the sender's error queue (IP_RECVERR)


@dataclass(frozen=True)
class LookupResult:
    """The whole experiment: the port, who was there, and each datagram's fate, as plain data."""

    port: int
    receivers: dict                # name -> the sender it is connected to, or None
    senders: dict                  # name -> {"connected": bool, "recverr": bool}
    datagrams: tuple[Datagram, ...]
    wait: float                    # seconds each step waited at most for something to happen

    def as_dict(self) -> dict:
        """Plain dicts, lists, strings and numbers (what viz.udp_lookup reads)."""
        data = asdict(self)
        data["datagrams"] = [dict(d, open=list(d["open"]),
                                  icmp_reported=list(d["icmp_reported"]) if d["icmp_reported"] else None)
                             for d in data["datagrams"]]
        return data

    def summary(self) -> list[str]:
        """One line per datagram: who sent it, who got it, what the sender heard."""
        lines = []
        for d in self.datagrams:
            got = f"the {d.received_by} socket got it" if d.received_by else "no socket got it"
            heard = f"the sender's recv() raised {d.sender_saw}" if d.sender_saw else "the sender heard nothing"
            lines.append(f"{d.number}. from {d.sender}: {got}; {heard}")
        return lines


def unavailable() -> str | None:
    """None where run() works; otherwise one sentence saying why not."""
    if sys.platform.startswith("linux"):
        return None
    here = {"darwin": "macOS", "win32": "Windows"}.get(sys.platform, platform.system() or sys.platform)
    return (f"The UDP lookup experiment shares one port between two sockets as Linux does, and this is {here}, "
            f"where sharing a UDP port follows other rules; run it on Linux, for example on Binder.")


def _icmp_unreachables_sent() -> int | None:
    """The kernel's count of ICMP destination unreachable messages sent (OutDestUnreachs), or None."""
    try:
        with open("/proc/net/snmp", encoding="ascii") as table:
            lines = [line.split() for line in table]
    except OSError:
        return None
    for names, values in zip(lines, lines[1:]):
        if names[:1] == ["Icmp:"] and values[:1] == ["Icmp:"] and "OutDestUnreachs" in names:
            return int(values[names.index("OutDestUnreachs")])
    return None


def _payload(number: int, sender: str) -> bytes:
    return f"datagram {number} from {sender}".encode()


def _read_receiver(sock: socket.socket) -> list[bytes]:
    got = []
    for _ in range(_MAX_READS):
        try:
            got.append(sock.recv(2048))
        except (BlockingIOError, InterruptedError):
            break
    return got


def _read_sender(sock: socket.socket, recverr: bool) -> tuple[str | None, tuple[int, int] | None]:
    """What the sender's recv() raised, and with IP_RECVERR the ICMP type and code its error queue holds."""
    saw = reported = None
    for _ in range(_MAX_READS):
        try:
            sock.recv(2048)  # nobody sends to a sender, so this either raises or finds nothing
        except (BlockingIOError, InterruptedError):
            break
        except OSError as exc:
            saw = errno.errorcode.get(exc.errno, str(exc.errno))
    if recverr:
        for _ in range(_MAX_READS):
            try:
                _, ancillary, _, _ = sock.recvmsg(2048, 512, socket.MSG_ERRQUEUE)
            except (BlockingIOError, InterruptedError):
                break
            for level, kind, data in ancillary:
                if level == socket.IPPROTO_IP and kind == IP_RECVERR and len(data) >= _EXTENDED_ERR.size:
                    _, origin, icmp_type, icmp_code, *_ = _EXTENDED_ERR.unpack_from(data)
                    if origin == _ORIGIN_ICMP:
                        reported = (icmp_type, icmp_code)
    return saw, reported


def run(*, wait: float = 0.1, recverr: bool = False) -> LookupResult:
    """Send six datagrams to a port shared by a connected and an unconnected socket; return each one's fate.

    wait: how long a step waits, at most, for a datagram or an error to show up
        (seconds). Only a step where nothing at all happens waits this long,
        one step in the default run, so run() takes about `wait` seconds.
    recverr: set IP_RECVERR on stranger 2, the sender that does not connect,
        so that the kernel reports ICMP errors to it as well.
    """
    wait = check_seconds(wait, "wait", none_ok=False, maximum=MAX_WAIT, example=0.1)
    recverr = check_flag(recverr, "recverr")
    why = unavailable()
    if why:
        raise UdpLookupUnavailable(why)

    with contextlib.ExitStack() as stack:
        def new_socket() -> socket.socket:
            return stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))

        receivers = {name: new_socket() for name in RECEIVERS}
        senders = {name: new_socket() for name in SENDERS}
        first, *others = receivers.values()
        # The first bind() comes before SO_REUSEADDR, so the kernel picks a port that nobody uses at all,
        # not one that some other program's SO_REUSEADDR socket already shares.
        first.bind((HOST, 0))
        port = first.getsockname()[1]
        for sock in receivers.values():
            # Set on both, it lets the second bind() take the same port instead of failing with EADDRINUSE.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        for sock in others:
            sock.bind((HOST, port))
        for name, sock in senders.items():
            sock.bind((HOST, 0))
            if SENDERS[name]:
                sock.connect((HOST, port))
        for name, peer in RECEIVERS.items():
            if peer is not None:
                receivers[name].connect(senders[peer].getsockname())
        if recverr:
            senders["stranger 2"].setsockopt(socket.IPPROTO_IP, IP_RECVERR, 1)

        selector = stack.enter_context(selectors.DefaultSelector())
        for role, group in (("receiver", receivers), ("sender", senders)):
            for name, sock in group.items():
                sock.setblocking(False)
                selector.register(sock, selectors.EVENT_READ, (role, name))

        numbers = {}         # payload -> datagram number
        fates = {}           # datagram number -> dict of what happened
        for action, name in PLAN:
            if action == "close":
                selector.unregister(receivers[name])
                receivers.pop(name).close()
                continue
            number = len(fates) + 1
            payload = _payload(number, name)
            numbers[payload] = number
            fate = fates[number] = {"number": number, "sender": name, "open": tuple(receivers),
                                    "received_by": None, "sender_saw": None, "icmp_reported": None}
            before = _icmp_unreachables_sent()
            sock = senders[name]
            if SENDERS[name]:
                sock.send(payload)
            else:
                sock.sendto(payload, (HOST, port))
            # On loopback whatever happens, happens within microseconds; wait returns at the first event.
            selector.select(wait)
            for receiver, rsock in receivers.items():
                for data in _read_receiver(rsock):
                    if data in numbers:  # a datagram of an earlier step, late, is still its own
                        fates[numbers[data]]["received_by"] = receiver
            fate["sender_saw"], fate["icmp_reported"] = _read_sender(sock, recverr and name == "stranger 2")
            after = _icmp_unreachables_sent()
            fate["icmp_sent"] = None if before is None or after is None else after - before

    datagrams = tuple(Datagram(**fate) for fate in fates.values())
    return LookupResult(port=port, receivers=dict(RECEIVERS),
                        senders={name: {"connected": connected, "recverr": recverr and name == "stranger 2"}
                                 for name, connected in SENDERS.items()},
                        datagrams=datagrams, wait=wait)
