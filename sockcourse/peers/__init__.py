"""Layer 2, every program that is not us, in real processes: Python peers, C, openssl, iperf3.

- `process`: `Peer` (a program in the background, stopped like a server),
  `read_line` and `end_process`, the one way the course reads a child's
  output with a time limit and makes sure a child ends; `command(name, ...)`
  runs one of the Python peers of this folder with this Python.
- `toolchains`: compilers and runtimes as data (C today), to build the peers
  under `src/<language>/` in a private temporary folder.
- `outside`: programs nobody in this course wrote: `openssl s_client`, iperf3.

The Python peers (`bench_peer.py`, `fd_receiver.py`, `pair_child.py`,
`unix_client.py`) are plain scripts that use the standard library only, so
each starts in a few tens of milliseconds and reads like any socket program.
"""

from .process import HERE, NAMES, STOP_TIMEOUT, Peer, PeerError, command, end_process, path, read_line

__all__ = ["HERE", "NAMES", "Peer", "PeerError", "STOP_TIMEOUT", "command", "end_process", "path", "read_line"]
