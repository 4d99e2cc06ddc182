"""The link's directions, actions and limits: the numbers every part of it shares."""

from __future__ import annotations

from ..core.limits import STOP_TIMEOUT
from ..core.trace import MAX_EVENTS
from ..protocols.faults import MAX_RETRANSMITS

__all__ = ["ACTIONS", "BUFFER", "BURST", "CONNECT_TIMEOUT", "DIRECTIONS", "HOLD_LIMIT", "MAX_CONNECTIONS",
           "MAX_DELAY", "MAX_FLOWS", "MAX_HOPS", "MAX_QUEUED_BYTES", "MAX_QUEUED_DATAGRAMS", "MAX_RETRANSMITS",
           "REASONS", "STOP_TIMEOUT"]

#: The two directions: the client's bytes travel "to_server", the answers "to_client".
DIRECTIONS = ("to_server", "to_client")

#: What the link did with a piece or datagram, and what each word means.
ACTIONS = {
    "delivered": "passed on at once, untouched",
    "delayed": "passed on late: held for the delay and jitter, or behind a retransmitted piece",
    "dropped": "lost on the way (UDP: gone for good; TCP: that transmission, which TCP repeats)",
    "retransmitted": "a lost TCP piece, passed on after the retransmission timeout",
    "duplicated": "an extra copy of a UDP datagram",
    "reordered": "a UDP datagram held back and passed on after the next one",
    "reset": "the connection was aborted with RST, by a setting or by one of its ends",
}

#: Why a hop went as it did (`Hop.why`): "" when the settings decided, otherwise one of these.
REASONS = {
    "": "the settings decided (loss, delay, reset_after, ...)",
    "cap": "a limit of the link itself: a TCP client beyond MAX_CONNECTIONS at once is refused, and "
           "the datagrams of a UDP client forgotten to make room beyond MAX_FLOWS are thrown away",
    "queue": "the link already held MAX_QUEUED_DATAGRAMS datagrams, and drops more as a full router queue does",
    "send": "the kernel would not pass the datagram on (a full buffer, or an ICMP error from the receiver)",
    "retries": "every retransmission of a piece was lost, so TCP gave up after MAX_RETRANSMITS",
    "peer": "one end reset its connection (or went away), and the link passed the reset on",
    "no server": "nobody accepted the link's connection to the server",
}

#: How long the link tries to reach the server for each new TCP client, in seconds.
CONNECT_TIMEOUT = 3.0
#: The longest delay, jitter or rto accepted, in seconds.
MAX_DELAY = 10.0
#: The longest a reordered UDP datagram waits for the next one, in seconds.
HOLD_LIMIT = 0.2
#: TCP connections relayed at once; a client beyond them is refused with RST (a "reset" hop, why "cap").
MAX_CONNECTIONS = 128
#: UDP clients remembered at once; beyond them the one silent longest is forgotten, and the
#: datagrams the link still held or had received for it are dropped ("dropped" hops, why "cap").
MAX_FLOWS = 64
#: Hops the record keeps (as many as a server's trace keeps events).
MAX_HOPS = MAX_EVENTS
#: Bytes one TCP direction may hold back before it stops reading from the
#: sender (whose send() then blocks, as with a full TCP window).
MAX_QUEUED_BYTES = 1 << 20
#: Datagrams the UDP side may hold back; more are dropped, as a full router queue drops them.
MAX_QUEUED_DATAGRAMS = 10_000
#: Bytes asked of one recv(): the largest UDP datagram (65,507 bytes) fits whole.
BUFFER = 65536
#: Datagrams read from one socket per wake-up, so one busy client cannot starve the rest.
BURST = 64
