"""The link's directions, actions and limits: the numbers every part of it shares."""

from __future__ import annotations

import struct

from ..core.trace import MAX_EVENTS

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

#: How long stop() waits for the link's threads, in seconds.
STOP_TIMEOUT = 5.0
#: How long the link tries to reach the server for each new TCP client, in seconds.
CONNECT_TIMEOUT = 3.0
#: The longest delay, jitter or rto accepted, in seconds.
MAX_DELAY = 10.0
#: Lost retries in a row after which a TCP connection is given up and reset.
MAX_RETRANSMITS = 5
#: The longest a reordered UDP datagram waits for the next one, in seconds.
HOLD_LIMIT = 0.2
#: TCP connections relayed at once; more are refused with RST.
MAX_CONNECTIONS = 128
#: UDP clients remembered at once; the one silent longest is forgotten first.
MAX_FLOWS = 64
#: Hops the record keeps (as many as a server's trace keeps events).
MAX_HOPS = MAX_EVENTS
#: Bytes one TCP direction may hold back before it stops reading from the
#: sender (whose send() then blocks, as with a full TCP window).
MAX_QUEUED_BYTES = 1 << 20
#: Datagrams the UDP side may hold back; more are dropped, as a full router queue drops them.
MAX_QUEUED_DATAGRAMS = 10_000

# Loops wake up at least this often to notice stop(), even if no wake-up arrives.
_LOOP_TICK = 0.5
_BUFFER = 65536
# Datagrams read from one socket per wake-up, so one busy client cannot starve the rest.
_BURST = 64
_LINGER_ABORT = struct.pack("ii", 1, 0)


