"""Layer 2, what the operating system says about our sockets, each thing asked of the real kernel.

`states()` and `proc_net_tcp()` read the kernel's socket tables; `table_source()`
names where states() reads them on this machine (Linux's sock_diag, the one
`ss` uses, where it can; see view.py for why). `socktables` lists the
families, types and protocols this OS really has.
"""

from .view import (PROC_TCP_STATES, TABLE_SOURCES, SocketState, StateTable, decode_proc_line, proc_net_tcp,
                   states, table_source, table_source_reason)

__all__ = ["PROC_TCP_STATES", "SocketState", "StateTable", "TABLE_SOURCES", "decode_proc_line", "proc_net_tcp",
           "states", "table_source", "table_source_reason"]
