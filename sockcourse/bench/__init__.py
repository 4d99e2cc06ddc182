"""Layer 3, measurements that return plain data: loopback speed, many clients, handshake costs.

`sockcourse.bench` itself offers the loopback measurement of chapter 03
(`compare`, `ping_pong_rtt`, `throughput`, `table`, from `loopback`) and the
same round trip in C (`c_ping_pong`, from `c_peer`); its siblings are
`manyclients` (chapter 04), `handshake` (chapter 05) and `suite` (the whole
`python -m sockcourse bench` run).
"""

from .c_peer import c_ping_pong
from .loopback import (KINDS, MAX_ROUNDS, MAX_SIZE, MAX_TOTAL, PEERS, TIMEOUT, BenchError, KiB, MiB,
                       compare, ping_pong_rtt, table, throughput)

__all__ = ["BenchError", "KINDS", "KiB", "MAX_ROUNDS", "MAX_SIZE", "MAX_TOTAL", "MiB", "PEERS", "TIMEOUT",
           "c_ping_pong", "compare", "ping_pong_rtt", "table", "throughput"]
