"""The bound socket of everything the course serves, and the errors a learner can act on.

Servers, asyncio servers, the server models and the link all start the same
way: a socket bound on loopback (port 0 by default) or on a UNIX path (in a
private temporary directory unless one is given), listening if it is a
stream. `open_socket` does that once for all of them, in the caller's
thread, so that a bad address fails in the cell that asked for it with a
sentence.

No option is set behind the learner's back. The one the course sets on its
own TCP listeners, SO_REUSEADDR, is the `reuse_address` argument (on by
default, and shown in every server's signature), and `setup` is a hook that
gets the socket before bind(), so a learner (or chapter 07) can set any
other option and see its effect.
"""

from __future__ import annotations

import errno
import os
import shutil
import socket
import stat
import tempfile
from dataclasses import dataclass

from .errors import AddressInUseError, BindError, BindPermissionError


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
                backlog: int = 128, what: str = "server", reuse_address: bool = True,
                setup=None) -> BoundSocket:
    """Bind a new socket (and listen, for SOCK_STREAM); raise a whole sentence if that fails.

    Arguments are assumed checked already (checks.check_loopback_host,
    check_port, check_unix_path). `what` names the caller in messages.
    reuse_address: set SO_REUSEADDR on a TCP socket before bind(), so a port
        left in TIME_WAIT by an earlier run may be bound again at once (a port
        with a live listener still may not, on Linux and the BSDs).
    setup: None, or a function called with the new socket before bind(),
        to set options on it; what it raises goes to the caller unchanged.
    """
    tempdir = None
    if family == socket.AF_UNIX and path is None:
        tempdir = tempfile.mkdtemp(prefix="sockcourse-")
        path = os.path.join(tempdir, "server.sock")
    sock = socket.socket(family, kind)
    try:
        if kind == socket.SOCK_STREAM and reuse_address and family != socket.AF_UNIX:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if setup is not None:
            setup(sock)  # the learner's own options: what it raises goes on as it is
        try:
            if family == socket.AF_UNIX:
                sock.bind(path)
                address = path
            else:
                sock.bind((host, port))
                address = sock.getsockname()[:2]
            if kind == socket.SOCK_STREAM:
                sock.listen(backlog)
        except OSError as exc:
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
        return BindPermissionError(
            f"This process may not listen on {where}: ports below 1024 need root (or "
            f"CAP_NET_BIND_SERVICE); use port=0 to let the kernel choose a free port.")
    if exc.errno == errno.EADDRNOTAVAIL:
        return BindError(f"The address {where} does not exist on this machine (is IPv6 turned off?); "
                         f"use host='127.0.0.1'.", exc.errno)
    hint = "leave the path out" if unix else "use port=0"
    return BindError(f"The {what} could not bind its socket to {where}: {exc.strerror or exc}; "
                     f"{hint} to let the course choose.", exc.errno)

