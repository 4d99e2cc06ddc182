"""Asking Linux for the TCP sockets on some ports, the way `ss` does: sock_diag over netlink.

/proc/net/tcp prints every TCP socket of the machine (its network namespace)
as text, and psutil adds a scan of every process's open files on top. Right
after a benchmark that is some 20,000 TIME_WAIT lines, read and parsed on
each question about three sockets. sock_diag (see sock_diag(7) and
linux/inet_diag.h) lets the kernel do the filtering: we send a request with
a small filter program ("bytecode") that keeps only sockets whose local or
remote port is one of ours, and the kernel answers with those sockets alone,
as binary records. The cost then follows the sockets asked about, not the
size of the table.

A netlink socket is an AF_NETLINK socket to the local kernel: nothing goes
on any network. Unprivileged processes may use it for these requests.

`tcp_sockets(ports)` returns plain tuples; the view (view.py) turns them into
the same rows psutil and /proc/net/tcp give.
"""

from __future__ import annotations

import errno
import socket
import struct
import time

#: The netlink family of socket diagnostics, from linux/netlink.h (Python's
#: socket module does not name it).
NETLINK_SOCK_DIAG = 4
#: The one request type of sock_diag, from linux/sock_diag.h.
SOCK_DIAG_BY_FAMILY = 20

_NLM_F_REQUEST = 0x01
_NLM_F_DUMP = 0x300          # NLM_F_ROOT | NLM_F_MATCH: every matching socket, not one
_NLMSG_ERROR = 2
_NLMSG_DONE = 3
_INET_DIAG_REQ_BYTECODE = 1  # the request's attribute that carries the filter program

# The filter program's instructions (enum in linux/inet_diag.h). A comparison
# op is followed by a second op whose `no` field holds the port.
_BC_JMP = 1
_BC_S_GE, _BC_S_LE, _BC_D_GE, _BC_D_LE = 2, 3, 4, 5

#: The TCP states asked for, as a bit mask over include/net/tcp_states.h:
#: ESTABLISHED (1) through CLOSING (11), and NEW_SYN_RECV (12), the kernel's
#: name for a half-open connection that /proc/net/tcp shows as SYN_RECV. Not
#: BOUND_INACTIVE (13, Linux 6.5 on): a socket that is only bound, which
#: /proc/net/tcp and psutil never list, and the course's tables must not either.
TCP_STATE_MASK = sum(1 << state for state in range(1, 13))

#: Above this many ports the filter program would grow long; the kernel then
#: sends every socket and the view filters them (still without a process scan).
MAX_FILTERED_PORTS = 256

_NLMSGHDR = struct.Struct("=IHHII")           # length, type, flags, sequence, port id
_REQ_V2 = struct.Struct("=BBBxI")             # family, protocol, extensions, (pad), states
_SOCKID_SIZE = 48                             # ports, 2 x 16-byte addresses, interface, cookie
_MSG_HEAD = struct.Struct("=BBBB")            # family, state, timer, retransmits
_ID_HEAD = struct.Struct("!HH16s16s")         # ports and addresses, in network byte order
#: After the socket id: expires, rqueue, wqueue, uid, inode (struct inet_diag_msg, linux/inet_diag.h).
_MSG_TAIL = struct.Struct("=IIIII")
_BC_OP = struct.Struct("=BBH")                # code, yes, no
_NLATTR = struct.Struct("=HH")                # length, type

_RECV_BYTES = 1 << 16  # the kernel fills at most 32 KiB per read of a dump


def port_filter(ports) -> bytes:
    """The filter program that keeps a socket whose local or remote port is in `ports`.

    The kernel runs it op by op: a true test moves `yes` bytes on, a false
    one `no` bytes; ending exactly at the end keeps the socket, ending past
    it drops it. The kernel also insists that every place a `no` jumps to is
    reached by following `yes` from the start, so the tests for one port
    are chained like `ss` chains an "or": "port >= p, port <= p, then jump
    over the rest", and a failed test jumps just past that jump, to the next
    port's tests. The last port's tests end the program: passing them keeps
    the socket, failing them falls off the end.
    """
    tests = [(ge, le, port) for port in sorted(set(ports)) for ge, le in ((_BC_S_GE, _BC_S_LE), (_BC_D_GE, _BC_D_LE))]
    if not tests:
        raise ValueError("port_filter needs at least one port")
    one_test = 2 * 2 * _BC_OP.size  # two comparisons, each an op and the op holding the port
    program = bytearray()
    for index, (ge, le, port) in enumerate(tests):
        last = index == len(tests) - 1
        # The jump after a test: 4 bytes, except after the last one, which has none.
        after = 0 if last else _BC_OP.size
        program += _BC_OP.pack(ge, 2 * _BC_OP.size, one_test + after + (4 if last else 0))
        program += _BC_OP.pack(0, 0, port)
        program += _BC_OP.pack(le, 2 * _BC_OP.size, 2 * _BC_OP.size + after + (4 if last else 0))
        program += _BC_OP.pack(0, 0, port)
        if not last:
            rest = (len(tests) - index - 1) * (one_test + _BC_OP.size) - _BC_OP.size
            # JMP's test is always false, so `no` is taken: to exactly the end, keeping the socket.
            program += _BC_OP.pack(_BC_JMP, _BC_OP.size, _BC_OP.size + rest)
    return bytes(program)


def state_mask(states=None) -> int:
    """The bit mask of `states` (numbers of include/net/tcp_states.h); None: every state the tables show."""
    if states is None:
        return TCP_STATE_MASK
    mask = sum(1 << state for state in set(states))
    if not mask or mask & ~TCP_STATE_MASK:
        raise ValueError(f"TCP states are numbers from 1 to 12 (include/net/tcp_states.h), not {sorted(states)!r}.")
    return mask


def request(family: int, ports, sequence: int, states=None) -> bytes:
    """One netlink message asking for the TCP sockets of `family` on `ports` (every socket if None), in `states`."""
    body = _REQ_V2.pack(family, socket.IPPROTO_TCP, 0, state_mask(states)) + bytes(_SOCKID_SIZE)
    if ports is not None:
        program = port_filter(ports)
        body += _NLATTR.pack(_NLATTR.size + len(program), _INET_DIAG_REQ_BYTECODE) + program
    header = _NLMSGHDR.pack(_NLMSGHDR.size + len(body), SOCK_DIAG_BY_FAMILY, _NLM_F_REQUEST | _NLM_F_DUMP,
                            sequence, 0)
    return header + body


def tcp_sockets(ports, timeout: float = 2.0, states=None) -> list[tuple]:
    """(family, state number, local (host, port), remote (host, port), rqueue) of each TCP socket on `ports`.

    rqueue is the kernel's idiag_rqueue: for a listening socket, the connections
    waiting in its accept queue (what /proc/net/tcp shows as rx_queue); for any
    other socket, the bytes received and not yet read. `states` (state numbers)
    lets the kernel skip the others, such as tens of thousands of TIME_WAIT rows.

    Both IPv4 and IPv6 tables are asked, one after the other (a netlink socket
    runs one dump at a time). Raises OSError where sock_diag is missing or
    refused (not Linux, a kernel without inet_diag, a sandbox), or when the
    kernel does not finish within `timeout` seconds.
    """
    ports = set(ports)
    program_ports = ports if 0 < len(ports) <= MAX_FILTERED_PORTS else None
    deadline = time.monotonic() + timeout
    found = []
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, NETLINK_SOCK_DIAG) as nl:
        for sequence, family in enumerate((socket.AF_INET, socket.AF_INET6), start=1):
            nl.settimeout(max(deadline - time.monotonic(), 0.001))
            nl.sendall(request(family, program_ports, sequence, states))
            found += _read_dump(nl, sequence, deadline)
    if program_ports is None:
        found = [row for row in found if row[2][1] in ports or row[3][1] in ports]
    return found


def _read_dump(nl: socket.socket, sequence: int, deadline: float) -> list[tuple]:
    buffer = bytearray(_RECV_BYTES)
    rows = []
    while True:  # bounded: each read has the time left as its timeout, and the deadline ends the loop
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("the kernel did not finish listing its sockets in time")
        nl.settimeout(remaining)
        size, _, flags, _ = nl.recvmsg_into([buffer])
        if flags & socket.MSG_TRUNC:
            raise OSError("a sock_diag answer did not fit the buffer")
        view = memoryview(buffer)[:size]
        offset = 0
        while offset + _NLMSGHDR.size <= size:
            length, kind, _, seq, _ = _NLMSGHDR.unpack_from(view, offset)
            if length < _NLMSGHDR.size or offset + length > size:
                raise OSError("a malformed netlink message came back from sock_diag")
            payload = view[offset + _NLMSGHDR.size:offset + length]
            offset += (length + 3) & ~3  # messages are aligned to 4 bytes
            if seq != sequence:
                continue  # an answer to an earlier request (there is none today, but it costs nothing)
            if kind == _NLMSG_DONE:
                return rows
            if kind == _NLMSG_ERROR:
                (error,) = struct.unpack_from("=i", payload)
                if error == 0:
                    continue  # an acknowledgement, not an error
                raise OSError(-error, f"sock_diag refused the request: {errno.errorcode.get(-error, -error)}")
            if kind == SOCK_DIAG_BY_FAMILY:
                rows.append(_decode(payload))


def _decode(payload) -> tuple:
    family, state, _, _ = _MSG_HEAD.unpack_from(payload, 0)
    sport, dport, src, dst = _ID_HEAD.unpack_from(payload, _MSG_HEAD.size)
    if family == socket.AF_INET:
        local, remote = socket.inet_ntop(family, src[:4]), socket.inet_ntop(family, dst[:4])
    else:
        local, remote = socket.inet_ntop(family, src), socket.inet_ntop(family, dst)
    _, rqueue, _, _, _ = _MSG_TAIL.unpack_from(payload, _MSG_HEAD.size + _SOCKID_SIZE)
    return family, state, (local, sport), (remote, dport), rqueue
