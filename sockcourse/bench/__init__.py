"""Layer 3, measurements that return plain data: loopback speed, many clients, handshake costs.

`sockcourse.bench` itself offers the loopback measurement of chapter 03
(`compare`, `ping_pong_rtt`, `throughput`, `table`, from `loopback`) and the
same round trip in C (`c_ping_pong`, from `c_peer`); its siblings are
`manyclients` (chapter 04), `handshake` (chapter 05) and `suite` (the whole
`python -m sockcourse bench` run).
"""

import importlib

__all__ = ["BenchError", "KINDS", "KiB", "MAX_ROUNDS", "MAX_SIZE", "MAX_TOTAL", "MiB", "PEERS", "TIMEOUT",
           "c_ping_pong", "compare", "ping_pong_rtt", "table", "throughput"]

# Loaded on first use: the many-clients child processes import this package
# twice per measurement and need none of the loopback code.
_HOMES = {name: ".c_peer" if name == "c_ping_pong" else ".loopback" for name in __all__}


def __getattr__(name):
    if name in _HOMES:
        value = getattr(importlib.import_module(_HOMES[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
