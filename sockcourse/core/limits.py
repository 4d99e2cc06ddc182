"""The numbers every part of the course shares: how long things may take, and what to retry."""

from __future__ import annotations

import errno

#: Seconds stop() waits for the threads (or tasks) of what it stops.
STOP_TIMEOUT = 5.0

#: Seconds start-up may take before it is given up (a loop thread, a handshake partner).
START_TIMEOUT = 5.0

#: Loops wake up at least this often even if no wake-up byte arrives, so a
#: lost wake-up can delay a stop by this much but never hang it.
LOOP_TICK = 0.5

#: The accept() errors that mean "no room just now" (out of descriptors, out
#: of kernel memory): an accept loop records them, waits ACCEPT_RETRY_DELAY
#: and tries again, as trio's serve_listeners does. Any other error ends the
#: loop and is kept for stop() to report.
ACCEPT_CAPACITY_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOBUFS})
ACCEPT_RETRY_DELAY = 0.05
