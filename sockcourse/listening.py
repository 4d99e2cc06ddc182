"""The bound socket of everything the course serves, and the errors a learner can act on.

Servers, asyncio servers and the link all start the same way: a socket bound
on loopback (port 0 by default) or on a UNIX path (in a private temporary
directory unless one is given), listening if it is a stream. `open_socket`
does that once for all of them, in the caller's thread, so that a bad
address fails in the cell that asked for it with a sentence.
"""

from __future__ import annotations

import errno
import os
import shutil
import socket
import stat
import tempfile
from dataclasses import dataclass

from .errors import AddressInUseError


@dataclass
class BoundSocket:
    """A bound (and, for streams, listening) socket with what it takes to clean up after it."""

    sock: socket.socket
    address: object          # (host, port) or a UNIX path
    path: str | None = None  # the UNIX path, if any
    tempdir: str | None = None

    def remove_path(self) -> None:
        """Remove the UNIX socket file and the private directory made for it; safe twice."""
        if self.path and not self.path.startswith("\0"):
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass
        if self.tempdir:
            shutil.rmtree(self.tempdir, ignore_errors=True)
            self.tempdir = None


def open_socket(family, kind, *, host: str | None = None, port: int = 0, path: str | None = None,
                backlog: int = 128, what: str = "server") -> BoundSocket:
    """Bind a new socket (and listen, for SOCK_STREAM); raise a whole sentence if that fails.

    Arguments are assumed checked already (errors.check_loopback_host,
    check_port, check_unix_path). `what` names the caller in messages.
    """
    tempdir = None
    if family == socket.AF_UNIX and path is None:
        tempdir = tempfile.mkdtemp(prefix="sockcourse-")
        path = os.path.join(tempdir, "server.sock")
    sock = socket.socket(family, kind)
    try:
        if family == socket.AF_UNIX:
            sock.bind(path)
            address = path
        else:
            if kind == socket.SOCK_STREAM:
                # A port left in TIME_WAIT by an earlier run may be reused at once;
                # a port with a live listener still may not (Linux, BSD).
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
            address = sock.getsockname()[:2]
        if kind == socket.SOCK_STREAM:
            sock.listen(backlog)
    except OSError as exc:
        sock.close()
        if tempdir:
            shutil.rmtree(tempdir, ignore_errors=True)
        raise explain_bind_error(exc, family, host=host, port=port, path=path, what=what) from None
    except BaseException:
        sock.close()
        if tempdir:
            shutil.rmtree(tempdir, ignore_errors=True)
        raise
    return BoundSocket(sock, address, path if family == socket.AF_UNIX else None, tempdir)


def explain_bind_error(exc: OSError, family, *, host=None, port=0, path=None, what="server") -> Exception:
    """The error to raise instead of `exc`: what went wrong, in a sentence, with one hint."""
    unix = family == socket.AF_UNIX
    where = repr(path) if unix else f"{host} port {port}"
    if exc.errno == errno.EADDRINUSE:
        if unix and os.path.exists(path) and not stat.S_ISSOCK(os.stat(path).st_mode):
            return AddressInUseError(
                f"The path {where} is taken by a file that is not a socket; pick another path, "
                f"or leave path=None for one in a private temporary directory.")
        if unix:
            hint = ("if it is a stale socket file left by a server that is gone, remove it "
                    "with os.unlink(path), or leave path=None")
        else:
            hint = "use port=0 to let the kernel choose a free port, or stop the server that holds it"
        return AddressInUseError(f"The address {where} is already in use by another socket; {hint}.")
    if exc.errno in (errno.EACCES, errno.EPERM) and not unix:
        return PermissionError(
            f"This process may not listen on {where}: ports below 1024 need root (or "
            f"CAP_NET_BIND_SERVICE); use port=0 to let the kernel choose a free port.")
    if exc.errno == errno.EADDRNOTAVAIL:
        return OSError(f"The address {where} does not exist on this machine (is IPv6 turned off?); "
                       f"use host='127.0.0.1'.")
    return OSError(f"The {what} could not bind its socket to {where}: {exc.strerror or exc}; "
                   f"use the defaults (port=0, or path=None) to let the course choose.")
