"""Layer 2, what the operating system says about our sockets, each thing asked of the real kernel.

`states()` and `proc_net_tcp()` read the kernel's socket tables; `socktables`
lists the families, types and protocols this OS really has.
"""

from .view import PROC_TCP_STATES, SocketState, StateTable, decode_proc_line, proc_net_tcp, states

__all__ = ["PROC_TCP_STATES", "SocketState", "StateTable", "decode_proc_line", "proc_net_tcp", "states"]
