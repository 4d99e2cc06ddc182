"""How an address reads, and which address family a host needs: written once for every part."""

from __future__ import annotations

import socket


def peer_text(address) -> str:
    """An address as short text: '127.0.0.1:5000', '[::1]:5000' or a path."""
    if isinstance(address, tuple) and len(address) >= 2:
        return host_port(address[0], address[1])
    if isinstance(address, bytes):
        address = address.decode(errors="replace")
    return str(address) if address else "(unnamed)"


def host_port(host, port) -> str:
    """'host:port', with an IPv6 host in brackets as in a URL (RFC 3986): '[::1]:5000'."""
    return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"


def family_for(host: str) -> socket.AddressFamily:
    """AF_INET6 for an IPv6 address such as '::1', AF_INET for '127.0.0.1'."""
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def ipv6_loopback(kind: int = socket.SOCK_STREAM) -> bool:
    """Whether this machine lets a socket of `kind` bind ::1 (IPv6 may be missing or switched off)."""
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, kind) as probe:
            probe.bind(("::1", 0))
        return True
    except OSError:
        return False
