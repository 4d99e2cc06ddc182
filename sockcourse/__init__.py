"""sockcourse: the helper package of the course "the birth, life and death of a socket".

The notebooks import this package; it runs real servers on background threads,
reads the kernel's view of our sockets, and records conversations as plain data.
The modules that draw (`viz`) or need a browser (`widgets`) are imported only
when first used, so `import sockcourse` stays quick.
"""

import importlib

from . import handlers, kernel, registry
from .errors import AddressInUseError, HandlerError, SockcourseError
from .registry import stop_all
from .servers import Server, serve
from .trace import Event, Trace

__all__ = [
    "AddressInUseError", "Event", "HandlerError", "Server", "SockcourseError", "Trace",
    "aio", "bench", "handlers", "handshake", "kernel", "link", "quic", "serve", "stop_all", "tcpstates", "tls",
    "viz", "widgets",
]

_LAZY_MODULES = {"aio", "bench", "handshake", "link", "quic", "tcpstates", "tls", "viz", "widgets"}

registry.hook_ipython()


def __getattr__(name):
    if name in _LAZY_MODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'sockcourse' has no attribute {name!r}")
