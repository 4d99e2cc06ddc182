"""sockcourse: the helper package of the course "the birth, life and death of a socket".

The notebooks import this package; it runs real servers on background threads,
reads the kernel's view of our sockets, and records conversations as plain data.
This file is the public face only: `serve`, `stop_all`, `running`, the handle
and trace types, the errors, and a lazy map of the sub-packages, so that
`import sockcourse` stays quick (matplotlib, trustme and aioquic load only
when a part that needs them is first used).

General layout: layers whose arrows point down. A module imports from its own
layer or from layers below it, never from a layer above, and no two modules
import each other (tests/test_layers.py walks every import, top-level, local
and TYPE_CHECKING alike, and fails on an upward arrow or a cycle).

    [0] core/       plumbing, standard library only: errors, argument checks,
                    addresses, the lifecycle of everything that starts and
                    stops, binding a socket, traces, the asyncio loop thread
    [1] protocols/  protocols as data and pure functions (TCP states, TLS
                    records, the link's fault decisions); never imports
                    socket, threading or subprocess
    [2] servers/    serve(), serve_async(), recording sockets, handlers, the
                    four server models
        link/       the fault-injecting relay
        kernel/     what the OS says about our sockets
        peers/      programs in other processes (Python peers, C, toolchains)
                    The four layer-2 parts never import each other: a link
                    takes a server by its `.address`, not by its type.
    [3] tls/        certificate authority, contexts, QUIC
        bench/      measurements that return plain data
    [4] homework/   exercise checks and the grader (public names only)
    [5] viz/, widgets, cli/
                    front ends on top: nothing imports them, and viz opens
                    no socket

A lower layer takes what a higher one makes by its shape, not by import:
`serve(tls=...)` accepts anything with a `server_context()` method.
"""

import importlib
import sys
from importlib.machinery import ModuleSpec

from .core import lifecycle as _lifecycle
from .core.errors import (AddressInUseError, CourseBugError, HandlerError, PeerFault, SockcourseError,
                          UsageError)
from .core.lifecycle import running, stop_all
from .core.trace import Event, Trace
from .servers import handlers
from .servers.threaded import Server, serve

__all__ = [
    "AddressInUseError", "CourseBugError", "Event", "HandlerError", "PeerFault", "Server", "SockcourseError",
    "Trace", "UsageError", "handlers", "running", "serve", "stop_all",
]

#: The sub-packages and modules a notebook reaches as `sockcourse.<name>`, by
#: the name it uses (older spellings included, so cells written before the
#: package had layers keep working). Each is imported on first use.
_LAZY = {
    "aio": "sockcourse.servers.aio",
    "bench": "sockcourse.bench",
    "cli": "sockcourse.cli",
    "errors": "sockcourse.core.errors",
    "handlers": "sockcourse.servers.handlers",
    "handshake": "sockcourse.bench.handshake",
    "kernel": "sockcourse.kernel",
    "link": "sockcourse.link",
    "manyclients": "sockcourse.bench.manyclients",
    "models": "sockcourse.servers.models",
    "peers": "sockcourse.peers",
    "protocols": "sockcourse.protocols",
    "quic": "sockcourse.tls.quic",
    "registry": "sockcourse.core.lifecycle",
    "socktables": "sockcourse.kernel.socktables",
    "tcpstates": "sockcourse.protocols.tcpstates",
    "tls": "sockcourse.tls",
    "trace": "sockcourse.core.trace",
    "viz": "sockcourse.viz",
    "widgets": "sockcourse.widgets",
}

_lifecycle.watch_cells()


class _OldSpellings:
    """Lets `import sockcourse.handlers` (a name of the map above) import the module it now names.

    A finder and loader by shape (find_spec, create_module, exec_module):
    importlib.abc would cost a fifth of the package's import time.
    """

    def find_spec(self, fullname, path=None, target=None):
        package, _, short = fullname.partition(".")
        if package == __name__ and _LAZY.get(short, fullname) != fullname:
            return ModuleSpec(fullname, self)
        return None

    def create_module(self, spec):
        return None  # a placeholder module, replaced in exec_module

    def exec_module(self, module) -> None:
        # The import system hands back whatever sys.modules holds under the
        # name once this returns: the real module, not the placeholder.
        sys.modules[module.__name__] = importlib.import_module(_LAZY[module.__name__.partition(".")[2]])


if not any(isinstance(finder, _OldSpellings) for finder in sys.meta_path):
    sys.meta_path.append(_OldSpellings())


def __getattr__(name):
    if name in _LAZY:
        module = importlib.import_module(_LAZY[name])
        globals()[name] = module
        return module
    raise AttributeError(f"module 'sockcourse' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
