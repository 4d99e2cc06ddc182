"""Layer 2, every program that is not us, in real processes: Python peers, C, Java, Rust, Node.js, openssl, iperf3.

- `process`: `Peer` (a program in the background, stopped like a server),
  `read_line` and `end_process`, the one way the course reads a child's
  output with a time limit and makes sure a child ends; `command(name, ...)`
  runs one of the Python peers of this folder with this Python.
- `toolchains`: compilers and runtimes as data (C, Java, Rust, Node.js): how
  to find each one, build a source of `src/<language>/`, and run the result.
  Built programs are kept in a cache outside the course, keyed by a hash of
  the source, so a second build compiles nothing.
- `native`: those peers run for real: `native.start(name, language)` starts a
  server and reads its first line (`listening on HOST:PORT`), `native.run`
  runs a client to its end; a missing toolchain is `Unavailable`, with one
  sentence saying what to install.
- `outside`: programs nobody in this course wrote: `openssl s_client`, iperf3, sockperf.
- `plc`: a simulated PLC on a real Modbus/TCP stack (pymodbus), for chapter 06.
- `strace`: a program's system calls, traced by strace where it may run.

The Python peers (`bench_peer.py`, `fd_receiver.py`, `pair_child.py`,
`unix_client.py`) are plain scripts that use the standard library only, so
each starts in a few tens of milliseconds and reads like any socket program.
"""

from .process import HERE, NAMES, STOP_TIMEOUT, Peer, PeerError, command, end_process, path, read_line

__all__ = ["HERE", "NAMES", "Peer", "PeerError", "STOP_TIMEOUT", "command", "end_process", "path", "read_line"]
