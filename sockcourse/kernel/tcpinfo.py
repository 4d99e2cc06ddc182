"""TCP_INFO: the kernel's own numbers for one TCP connection, as plain data.

Linux keeps a `struct tcp_info` for every TCP socket and hands a copy to
`getsockopt(IPPROTO_TCP, TCP_INFO)`: the state, the smoothed round-trip time,
the congestion window, the retransmissions, the segments and bytes in and
out. It is what `ss -ti` prints. `tcp_info(sock)` asks for it and `parse()`
reads the bytes by `FIELDS`, one row per member of the struct, in the order
of the kernel's header include/uapi/linux/tcp.h (Linux 6.18; the members
after tcpi_snd_wnd came in 6.2, 6.7 and 6.18).

The struct only ever grows at its end, and the kernel copies no more than
it has: an older kernel returns fewer bytes, and every field past the end of
what it returned is None here (not 0, which would be a lie). One exception
to "only grows" is known: later kernels turn the last two members,
tcpi_accecn_fail_mode and tcpi_accecn_opt_seen (two u16), into bit fields of
one u32 (tcpi_ecn_mode:2, tcpi_accecn_opt_seen:2, tcpi_accecn_fail_mode:4,
tcpi_options2:24) of the same size, which this table would misread there.
"""

from __future__ import annotations

import dataclasses
import platform
import socket
import struct
import sys
from typing import NamedTuple

from .view import PROC_TCP_STATES
from ..core.errors import ArgumentError, ArgumentTypeError, UsageError


class Field(NamedTuple):
    """One member of struct tcp_info: its C name and type, our name for it, its unit and meaning."""

    c_name: str     # as in the header, e.g. "tcpi_rtt"
    ctype: str      # "u8", "u16", "u32" or "u64"
    name: str       # the attribute of TcpInfo, e.g. "rtt_us" (the unit is in the name for times)
    unit: str       # "us", "ms", "bytes", "segments", "bytes/s", "count" or "" for codes
    meaning: str
    bits: int = 0   # a bit field's width; 0 for a whole member


_CODES = {"u8": "B", "u16": "H", "u32": "I", "u64": "Q"}

#: struct tcp_info, member by member, from the Linux kernel's include/uapi/linux/tcp.h.
FIELDS = (
    Field("tcpi_state", "u8", "state_number", "", "the connection's state, numbered as in include/net/tcp_states.h"),
    Field("tcpi_ca_state", "u8", "ca_state_number", "",
          "the congestion-control state: 0 open, 1 disorder, 2 CWR, 3 recovery, 4 loss"),
    Field("tcpi_retransmits", "u8", "retransmits", "count",
          "retransmission timeouts in a row for the oldest unacknowledged segment (0 again once it is acked)"),
    Field("tcpi_probes", "u8", "probes", "count", "zero-window or keep-alive probes sent and not answered"),
    Field("tcpi_backoff", "u8", "backoff", "count", "how many times the retransmission timer has been doubled"),
    Field("tcpi_options", "u8", "options_bits", "", "the TCP options agreed in the handshake, as bits (see .options)"),
    Field("tcpi_snd_wscale", "u8", "snd_wscale", "", "the window scale the peer announced (a shift)", bits=4),
    Field("tcpi_rcv_wscale", "u8", "rcv_wscale", "", "the window scale we announced (a shift)", bits=4),
    Field("tcpi_delivery_rate_app_limited", "u8", "delivery_rate_app_limited", "",
          "1 if the last delivery rate was measured while the program had too little to send", bits=1),
    Field("tcpi_fastopen_client_fail", "u8", "fastopen_client_fail", "",
          "why TCP Fast Open failed for this client (0: it did not fail, or was not tried)", bits=2),
    Field("tcpi_rto", "u32", "rto_us", "us", "the retransmission timeout now"),
    Field("tcpi_ato", "u32", "ato_us", "us", "the delayed-ACK timeout now"),
    Field("tcpi_snd_mss", "u32", "snd_mss", "bytes", "the largest segment payload we send (MSS)"),
    Field("tcpi_rcv_mss", "u32", "rcv_mss", "bytes", "the kernel's guess of the largest payload the peer sends"),
    Field("tcpi_unacked", "u32", "unacked", "segments",
          "segments sent and not yet acknowledged (on a listening socket: connections waiting in accept's queue)"),
    Field("tcpi_sacked", "u32", "sacked", "segments",
          "segments the peer acknowledged selectively (on a listening socket: the backlog given to listen())"),
    Field("tcpi_lost", "u32", "lost", "segments", "segments the kernel believes lost"),
    Field("tcpi_retrans", "u32", "retrans", "segments", "segments retransmitted and not yet acknowledged"),
    Field("tcpi_fackets", "u32", "fackets", "segments",
          "kept for old programs: the kernel no longer counts forward-acknowledged segments"),
    Field("tcpi_last_data_sent", "u32", "last_data_sent_ms", "ms", "time since data was last sent"),
    Field("tcpi_last_ack_sent", "u32", "last_ack_sent_ms", "ms",
          "not kept by Linux (the header says 'Not remembered, sorry'), so always 0"),
    Field("tcpi_last_data_recv", "u32", "last_data_recv_ms", "ms", "time since data last arrived"),
    Field("tcpi_last_ack_recv", "u32", "last_ack_recv_ms", "ms", "time since an acknowledgement last arrived"),
    Field("tcpi_pmtu", "u32", "pmtu", "bytes", "the path MTU: the largest IP packet the path carries"),
    Field("tcpi_rcv_ssthresh", "u32", "rcv_ssthresh", "bytes",
          "how far the kernel lets the receive window we announce grow for now"),
    Field("tcpi_rtt", "u32", "rtt_us", "us", "the smoothed round-trip time (SRTT of RFC 6298)"),
    Field("tcpi_rttvar", "u32", "rttvar_us", "us", "how much the round-trip time varies (RTTVAR of RFC 6298)"),
    Field("tcpi_snd_ssthresh", "u32", "snd_ssthresh", "segments",
          "the slow-start threshold (a huge number until the first loss)"),
    Field("tcpi_snd_cwnd", "u32", "snd_cwnd", "segments", "the congestion window: segments allowed in flight"),
    Field("tcpi_advmss", "u32", "advmss", "bytes", "the MSS we announced to the peer"),
    Field("tcpi_reordering", "u32", "reordering", "segments",
          "how much reordering the kernel puts up with before it calls a segment lost"),
    Field("tcpi_rcv_rtt", "u32", "rcv_rtt_us", "us", "the round-trip time as the receiving side estimates it"),
    Field("tcpi_rcv_space", "u32", "rcv_space", "bytes", "the receive buffer space auto-tuning aims for"),
    Field("tcpi_total_retrans", "u32", "total_retrans", "segments", "every retransmission of this connection"),
    Field("tcpi_pacing_rate", "u64", "pacing_rate", "bytes/s", "the rate the kernel spaces packets out at"),
    Field("tcpi_max_pacing_rate", "u64", "max_pacing_rate", "bytes/s",
          "the cap set with SO_MAX_PACING_RATE (all bits set: no cap)"),
    Field("tcpi_bytes_acked", "u64", "bytes_acked", "bytes",
          "bytes the peer acknowledged, the SYN counted as one (RFC 4898 tcpEStatsAppHCThruOctetsAcked)"),
    Field("tcpi_bytes_received", "u64", "bytes_received", "bytes",
          "bytes received in order (RFC 4898 tcpEStatsAppHCThruOctetsReceived)"),
    Field("tcpi_segs_out", "u32", "segs_out", "segments",
          "segments sent, pure ACKs and retransmissions included (RFC 4898 tcpEStatsPerfSegsOut)"),
    Field("tcpi_segs_in", "u32", "segs_in", "segments", "segments received (RFC 4898 tcpEStatsPerfSegsIn)"),
    Field("tcpi_notsent_bytes", "u32", "notsent_bytes", "bytes", "bytes in the send queue not sent yet"),
    Field("tcpi_min_rtt", "u32", "min_rtt_us", "us", "the smallest round-trip time seen lately"),
    Field("tcpi_data_segs_in", "u32", "data_segs_in", "segments",
          "segments received that carried data (RFC 4898 tcpEStatsDataSegsIn)"),
    Field("tcpi_data_segs_out", "u32", "data_segs_out", "segments",
          "segments sent that carried data (RFC 4898 tcpEStatsDataSegsOut)"),
    Field("tcpi_delivery_rate", "u64", "delivery_rate", "bytes/s", "the latest measured delivery rate"),
    Field("tcpi_busy_time", "u64", "busy_time_us", "us", "time spent with data to send"),
    Field("tcpi_rwnd_limited", "u64", "rwnd_limited_us", "us", "time the peer's receive window held us back"),
    Field("tcpi_sndbuf_limited", "u64", "sndbuf_limited_us", "us", "time our send buffer held us back"),
    Field("tcpi_delivered", "u32", "delivered", "segments", "segments delivered to the peer, retransmissions included"),
    Field("tcpi_delivered_ce", "u32", "delivered_ce", "segments",
          "segments delivered that a router marked 'congestion experienced' (ECN)"),
    Field("tcpi_bytes_sent", "u64", "bytes_sent", "bytes",
          "data bytes sent, retransmissions included (RFC 4898 tcpEStatsPerfHCDataOctetsOut)"),
    Field("tcpi_bytes_retrans", "u64", "bytes_retrans", "bytes",
          "data bytes retransmitted (RFC 4898 tcpEStatsPerfOctetsRetrans)"),
    Field("tcpi_dsack_dups", "u32", "dsack_dups", "segments",
          "segments the peer reported receiving twice, with D-SACK (RFC 4898 tcpEStatsStackDSACKDups)"),
    Field("tcpi_reord_seen", "u32", "reord_seen", "count", "reordering events seen"),
    Field("tcpi_rcv_ooopack", "u32", "rcv_ooopack", "segments", "segments that arrived out of order"),
    Field("tcpi_snd_wnd", "u32", "snd_wnd", "bytes", "the receive window the peer announced, scaled"),
    Field("tcpi_rcv_wnd", "u32", "rcv_wnd", "bytes", "the receive window we announced, scaled"),
    Field("tcpi_rehash", "u32", "rehash", "count", "times the connection's path was re-drawn (PLB or a timeout)"),
    Field("tcpi_total_rto", "u16", "total_rto", "count",
          "retransmission timeouts, those of the SYN and SYN-ACK included"),
    Field("tcpi_total_rto_recoveries", "u16", "total_rto_recoveries", "count",
          "recoveries after a retransmission timeout"),
    Field("tcpi_total_rto_time", "u32", "total_rto_time_ms", "ms", "time spent in those recoveries"),
    Field("tcpi_received_ce", "u32", "received_ce", "segments", "segments received with an ECN congestion mark"),
    Field("tcpi_delivered_e1_bytes", "u32", "delivered_e1_bytes", "bytes", "Accurate ECN: bytes delivered as ECT(1)"),
    Field("tcpi_delivered_e0_bytes", "u32", "delivered_e0_bytes", "bytes", "Accurate ECN: bytes delivered as ECT(0)"),
    Field("tcpi_delivered_ce_bytes", "u32", "delivered_ce_bytes", "bytes", "Accurate ECN: bytes delivered marked CE"),
    Field("tcpi_received_e1_bytes", "u32", "received_e1_bytes", "bytes", "Accurate ECN: bytes received as ECT(1)"),
    Field("tcpi_received_e0_bytes", "u32", "received_e0_bytes", "bytes", "Accurate ECN: bytes received as ECT(0)"),
    Field("tcpi_received_ce_bytes", "u32", "received_ce_bytes", "bytes", "Accurate ECN: bytes received marked CE"),
    Field("tcpi_accecn_fail_mode", "u16", "accecn_fail_mode", "", "Accurate ECN: the failures seen, as bits"),
    Field("tcpi_accecn_opt_seen", "u16", "accecn_opt_seen", "", "Accurate ECN: which AccECN option was seen"),
)

#: tcpi_state's numbers, from the kernel's include/net/tcp_states.h, spelt as
#: kernel.states() spells them (1 to 11), plus the two a learner rarely meets.
STATE_NAMES = {int(code, 16): name for code, name in PROC_TCP_STATES.items()}
STATE_NAMES.update({12: "NEW_SYN_RECV", 13: "BOUND_INACTIVE"})

#: tcpi_ca_state's numbers: enum tcp_ca_state in include/uapi/linux/tcp.h.
CA_STATE_NAMES = {0: "open", 1: "disorder", 2: "CWR", 3: "recovery", 4: "loss"}

#: tcpi_options' bits: the TCPI_OPT_* names in include/uapi/linux/tcp.h.
OPTION_BITS = {1: "timestamps", 2: "sack", 4: "wscale", 8: "ecn", 16: "ecn_seen", 32: "syn_data",
               64: "usec_ts", 128: "tfo_child"}


def _layout(fields) -> tuple[list[tuple[Field, int, int]], int]:
    """Each field's byte offset and bit shift, by the C rules the kernel's compiler follows.

    A member starts at a multiple of its own size, and the struct's size is a
    multiple of its largest member (no member of this struct is ever padded
    today, but an offset computed is one that cannot be mistyped). Bit fields
    share one byte, the first declared in the lowest bits on a little-endian
    machine (as GCC does), in the highest on a big-endian one.
    """
    placed, offset, unit, bit = [], 0, 0, None
    for field in fields:
        size = struct.calcsize(_CODES[field.ctype])
        if field.bits:
            if bit is None or bit + field.bits > 8 * size:  # open a new storage unit
                unit = -(-offset // size) * size
                offset, bit = unit + size, 0
            shift = bit if sys.byteorder == "little" else 8 * size - bit - field.bits
            placed.append((field, unit, shift))
            bit += field.bits
            continue
        bit = None
        offset = -(-offset // size) * size
        placed.append((field, offset, 0))
        offset += size
    largest = max(struct.calcsize(_CODES[field.ctype]) for field in fields)
    return placed, -(-offset // largest) * largest


_PLACED, SIZE = _layout(FIELDS)
#: Where each member starts, by its C name: tests compare it with offsetof() from the installed header.
OFFSETS = {field.c_name: offset for field, offset, _ in _PLACED}


def _repr(info) -> str:
    shown = ", ".join(f"{name}={getattr(info, name)!r}" for name in _SHOWN)
    return f"TcpInfo({shown}, ... {len(dataclasses.fields(info)) - len(_SHOWN)} more: see .to_dict() or .rows())"


def _to_dict(info) -> dict:
    """Every field by name: plain data, ready for a table or for JSON."""
    return dataclasses.asdict(info)


def _rows(info) -> list[tuple[str, object, str, str]]:
    """(name, value, unit, meaning) for every member, in the header's order: a table to show."""
    return [(field.name, getattr(info, field.name), field.unit, field.meaning) for field in FIELDS]


_SHOWN = ("state", "rtt_us", "rttvar_us", "snd_cwnd", "retransmits", "total_retrans", "segs_in", "segs_out",
          "bytes_acked", "bytes_received")

TcpInfo = dataclasses.make_dataclass(
    "TcpInfo",
    [("length", int), ("state", str), ("ca_state", "str | None"), ("options", tuple)]
    + [(field.name, "int | None") for field in FIELDS],
    frozen=True, repr=False,
    namespace={"__repr__": _repr, "to_dict": _to_dict, "rows": _rows,
               "__doc__": "The kernel's struct tcp_info for one TCP socket, field by field (None: past what "
                          "this kernel returned).\n\n`length` is how many bytes the kernel returned; `state`, "
                          "`ca_state` and `options` are the numbers of the first members, named."},
)
TcpInfo.__module__ = __name__


def parse(data: bytes) -> TcpInfo:
    """Read a struct tcp_info from the bytes getsockopt(TCP_INFO) returned; past their end, fields are None."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ArgumentTypeError(f"parse() reads the bytes that getsockopt(IPPROTO_TCP, TCP_INFO, {SIZE}) returns, "
                                f"but got {data!r} (type {type(data).__name__}); pass those bytes.")
    data = bytes(data)
    values = {}
    for field, offset, shift in _PLACED:
        code = _CODES[field.ctype]
        end = offset + struct.calcsize(code)
        if end > len(data):
            values[field.name] = None
            continue
        value = struct.unpack_from("=" + code, data, offset)[0]
        if field.bits:
            value = (value >> shift) & ((1 << field.bits) - 1)
        values[field.name] = value
    state, ca_state, bits = values["state_number"], values["ca_state_number"], values["options_bits"]
    return TcpInfo(
        length=len(data),
        state=STATE_NAMES.get(state, f"unknown ({state})") if state is not None else "unknown (no data)",
        ca_state=CA_STATE_NAMES.get(ca_state, f"unknown ({ca_state})") if ca_state is not None else None,
        options=tuple(name for bit, name in OPTION_BITS.items() if bits is not None and bits & bit),
        **values)


def unavailable() -> str | None:
    """None where TCP_INFO can be read as Linux's struct tcp_info; else one sentence saying why not."""
    if sys.platform.startswith("linux") and hasattr(socket, "TCP_INFO"):
        return None
    if sys.platform.startswith("linux"):
        return "This Python's socket module has no TCP_INFO, so the kernel's TCP numbers cannot be asked for here."
    here = {"darwin": "macOS", "win32": "Windows"}.get(sys.platform, platform.system() or sys.platform)
    return (f"tcp_info() reads Linux's struct tcp_info, and this is {here}, whose "
            f"TCP_INFO (if it has one) is laid out differently; run this on Linux, for example on Binder.")


class Unavailable(UsageError):
    """This system cannot give the kernel's TCP numbers in Linux's layout; the message says why."""


def tcp_info(sock: socket.socket) -> TcpInfo:
    """The kernel's own numbers for one TCP socket (rtt, cwnd, retransmissions, segments, bytes), as plain data.

    Works on any TCP socket: a connected one (the interesting case), a
    listening one (unacked is then the accept queue), even one not yet
    connected (state CLOSE). Each call is a fresh copy; nothing is cached.
    """
    _check_tcp_socket(sock)
    why = unavailable()
    if why:
        raise Unavailable(why)
    try:
        data = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, SIZE)
    except OSError as exc:
        raise ArgumentError(f"The kernel refused getsockopt(IPPROTO_TCP, TCP_INFO) on {sock!r}: {exc.strerror}; "
                            f"TCP_INFO needs an open TCP socket.") from None
    return parse(data)


def _check_tcp_socket(sock) -> None:
    if not isinstance(sock, socket.socket):
        raise ArgumentTypeError(f"tcp_info() needs a socket.socket, but got {sock!r} (type {type(sock).__name__}); "
                                f"for example the socket socket.create_connection() returned.")
    if sock.fileno() == -1:
        raise ArgumentError("tcp_info() got a closed socket (its fileno() is -1); ask while the connection is "
                            "open, before close() or the end of its `with` block.")
    if sock.family not in (socket.AF_INET, socket.AF_INET6) or sock.type != socket.SOCK_STREAM:
        raise ArgumentError(f"tcp_info() reads TCP's numbers, but this socket is {sock.family.name} "
                            f"{sock.type.name}; pass a TCP socket (AF_INET or AF_INET6 with SOCK_STREAM).")
