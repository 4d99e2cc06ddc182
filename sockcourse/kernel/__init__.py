"""Layer 2, what the operating system says about our sockets, each thing asked of the real kernel.

`states()` and `proc_net_tcp()` read the kernel's socket tables; `table_source()`
names where states() reads them on this machine (Linux's sock_diag, the one
`ss` uses, where it can; see view.py for why). `socktables` lists the
families, types and protocols this OS really has. `options` is the table of
socket options chapter 07 teaches, each one tried on this kernel (`probe_all()`),
with `options.get` / `options.set` that explain a refusal; `tcp_info(sock)` reads
the kernel's own numbers for one connection (struct tcp_info). `udplookup.run()`
asks which of two UDP sockets on one port the kernel hands each datagram to, and
which sender hears of the ICMP error (chapter 02).
"""

from . import options, tcpinfo, udplookup
from .options import (OPTIONS, Linger, Option, OptionRefused, OptionTable, OptionUnavailable, Probe, UnknownOption,
                      probe, probe_all)
from .tcpinfo import TcpInfo, tcp_info

from .view import (PROC_TCP_STATES, accept_queue, TABLE_SOURCES, SocketState, StateTable, decode_proc_line, proc_net_tcp,
                   states, table_source, table_source_reason)

__all__ = ["OPTIONS", "Linger", "Option", "OptionRefused", "OptionTable", "OptionUnavailable", "Probe", "TcpInfo",
           "UnknownOption", "options", "probe", "probe_all", "tcp_info", "tcpinfo", "udplookup",
           "PROC_TCP_STATES", "accept_queue", "SocketState", "StateTable", "TABLE_SOURCES", "decode_proc_line", "proc_net_tcp",
           "states", "table_source", "table_source_reason"]
