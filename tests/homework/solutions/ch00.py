"""Chapter 00's answers by their expected names: the same solutions as homework-source/00_history.ipynb.

The notebook's answer cells are made from this file (each function's body is
its solution region), so the two cannot drift apart.
"""

import os
import socket


# -- q1 -----------------------------------------------------------------------------------------
def aen(name):
    """The AEN of a 40-bit ARPANET socket name (RFC 433): its last 8 bits."""
    return name & 0xFF


def is_send_socket(number):
    """True for a send socket (an odd number), False for a receive socket (an even one), as RFC 147 says."""
    return number % 2 == 1


# -- q2 -----------------------------------------------------------------------------------------
def tcp_ports(names):
    """{name: its TCP port, or None where the services database has none} for each name in names."""
    ports = {}
    for name in names:
        try:
            ports[name] = socket.getservbyname(name, "tcp")
        except OSError:  # no TCP port for that name in the database
            ports[name] = None
    return ports


# -- q3 -----------------------------------------------------------------------------------------
def kind_of(fd):
    """'socket', 'pipe' or 'file': what the open descriptor fd of this process stands for."""
    link = os.readlink(f"/proc/self/fd/{fd}")
    if link.startswith("socket:"):
        return "socket"
    if link.startswith("pipe:"):
        return "pipe"
    return "file"
