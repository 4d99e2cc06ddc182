"""A relay on loopback that gives a connection the faults loopback has not (apart from a full UDP receive buffer).

`link(to)` binds its own socket on loopback, forwards what a client sends it
to the server at `to`, and the server's answers back. A client that talks to
`link.address` instead of the server then meets the network the settings
describe: delay, jitter, loss, duplicates, reordering, data in small pieces,
a reset. Each direction has its own settings: "to_server" (client to server)
and "to_client" (server to client). Every piece of a stream and every
datagram is written down as a `Hop` in `link.record`; the link never prints.

What a fault means depends on the transport, because the link plays both the
network and, for TCP, the repair work TCP does on top of it:

- UDP. A lost datagram is gone. A duplicated one arrives twice. A reordered
  one is held back and sent right after the next datagram of the same client
  in the same direction (if none comes within HOLD_LIMIT seconds it goes on
  alone, late but in order). Nothing else reorders: with `reorder=0`, delay
  and jitter never let a datagram overtake an earlier one. One datagram in,
  one datagram out: boundaries are kept.
- TCP. The program at the other end never sees loss, copies or disorder,
  because TCP repairs them; what it sees is *time*. So `loss` means that one
  transmission of a piece is lost and TCP sends it again after its
  retransmission timeout (`rto`, 0.2 s unless set), doubling the timeout each
  time the retry is lost too (RFC 6298). Since TCP hands bytes over in order
  only, every piece behind the lost one waits for it, even pieces that
  "arrived" long ago: that is head-of-line blocking, and those pieces are
  recorded as "delayed". After MAX_RETRANSMITS lost retries in a row the link
  gives up on the connection, as a real TCP does, and resets it.
  `chunk` cuts the data into pieces of at most that many bytes, sent one by
  one `gap` seconds apart (5 ms unless set), so a reader that keeps up receives
  them one by one (recv() returns part of a message: framing matters); on a
  busy machine a reader may lag and get two pieces at once, and a larger gap
  helps. `reset_after` aborts
  both sides with RST (SO_LINGER 0) once that many bytes have gone through
  that direction of a connection.

One limit is worth knowing: a client's connect() completes with the link's own
kernel at once, so `delay` cannot slow the TCP handshake itself; it slows
every byte that follows (a TLS handshake included). `handshake=True` emulates
the handshake's cost instead: the link holds each new connection for one round
trip (the "to_server" delay plus the "to_client" delay, jitter left out), the
time the SYN and the SYN+ACK would have taken, before it forwards the client's
bytes, and for the "to_server" delay more before it forwards the server's (the
time the handshake's last ACK would have taken to reach the server). The
client's connect() still returns at once, but its first request reaches the
server, and the answer the client, exactly when they would after a real
handshake over a link with these delays. No SYN crosses the link: it is an
emulation, not a measurement.

The decisions are random but seeded: each direction draws from its own
`random.Random` seeded from `seed`, and a datagram always takes the same
number of draws, so the same datagrams give the same decisions on every run.
For TCP the decisions follow the pieces the link happens to read, whose sizes
depend on timing, so a run repeats exactly only if the pieces do.

When a TCP direction has no fault set, it forwards with plain recv() and
send() on sockets with TCP_NODELAY, so the link adds very little latency.

The link has two limits of its own, and says so in its record when it meets
them. It relays at most MAX_CONNECTIONS (128) TCP connections at once; a
client beyond them is refused with RST, a "reset" hop whose `why` is "cap".
It remembers at most MAX_FLOWS (64) UDP clients (a client is an address and
port); a new client beyond them makes it forget the one silent longest, and
every datagram it still held or had received for that client is a "dropped"
hop with why "cap". An answer the server sends later to a forgotten client
is turned away by the kernel, where the link cannot see it, and that
client's next datagram makes it a new client with a new number. Every other
reason a hop went as it did is in REASONS; `why` is "" when the settings
decided.

The package's parts: `relay` (the entry point and the handle; nothing but
this file imports it), `settings` (what may be set, and its checks),
`record` (what crossed, and `summary()` of it), `shared` (what the handle
and its two halves share), `tcp` and `udp` (the halves that move the
bytes), `limits` (the numbers they share). The decisions themselves are
pure functions in `sockcourse.protocols.faults`, tested without sockets.
"""

from .limits import (ACTIONS, DIRECTIONS, MAX_CONNECTIONS, MAX_DELAY, MAX_FLOWS, MAX_RETRANSMITS, REASONS,
                     STOP_TIMEOUT)
from .record import Hop, summary
from .relay import Link, link
from .settings import Settings, check_setting, check_settings

__all__ = ["ACTIONS", "DIRECTIONS", "Hop", "Link", "MAX_CONNECTIONS", "MAX_DELAY", "MAX_FLOWS", "MAX_RETRANSMITS",
           "REASONS", "STOP_TIMEOUT", "Settings", "check_setting", "check_settings", "link", "summary"]
