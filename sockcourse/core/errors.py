"""Every error the course raises on purpose, and who is at fault for each.

Everything here derives from `SockcourseError`, so one `except` catches what
the course means to say, and the grader can tell one kind of fault from
another. Who is at fault is part of the type, as h11 splits its protocol
errors into the local side's and the remote side's:

- the caller (`UsageError` and its two flavours of bad argument): a
  function was asked for something that cannot work; the message says what
  was expected and gives one hint;
- the learner's handler (`HandlerError`): kept by a server and raised at
  `stop()`, with the handler's own exception as its cause;
- the peer (`PeerFault`): the program at the other end broke the protocol
  (half a length prefix, then a reset). A server records it in its trace as
  the peer's doing and never blames the handler for it;
- the course itself (`CourseBugError`): something that should never happen
  did; the message asks for a report;
- the machine (`BuildError`, `PeerError`, `BindError`): a compiler, an
  outside program or the kernel refused, and the message says what it said.

Every message is a whole sentence that names the value it got, says what
was expected and gives one hint.
"""

from __future__ import annotations

import errno
import enum


class SockcourseError(Exception):
    """Base class of the errors this package raises on purpose."""


class Fault(str, enum.Enum):
    """Who caused something that went wrong; a trace event's `fault` field holds one."""

    CALLER = "caller"    # the code that called the course (bad arguments)
    HANDLER = "handler"  # the learner's handler, model or coroutine
    PEER = "peer"        # the program at the other end of the socket
    COURSE = "course"    # sockcourse itself


# -- the caller's -------------------------------------------------------------------
class UsageError(SockcourseError):
    """A course function (or the command line) was asked for something that cannot work."""

    fault = Fault.CALLER


class ArgumentError(UsageError, ValueError):
    """An argument has the right type but a value that cannot work (`except ValueError` catches it)."""


class ArgumentTypeError(UsageError, TypeError):
    """An argument has the wrong type (`except TypeError` catches it)."""


class MissingFileError(UsageError, FileNotFoundError):
    """A file named by an argument does not exist (`except FileNotFoundError` catches it)."""


class CertificateError(UsageError):
    """A certificate or key could not be made, loaded or used; the message says why."""


# -- the handler's ------------------------------------------------------------------
class HandlerError(SockcourseError):
    """A server's handler raised; re-raised at stop() with the handler's error as cause."""

    fault = Fault.HANDLER


def describe(exc: BaseException) -> str:
    """`Type: message` for any exception, even one whose str() raises (it happens in learners' classes)."""
    name = type(exc).__qualname__
    if type(exc).__module__ not in ("builtins", None) and name == "error":
        name = f"{type(exc).__module__}.{name}"  # struct.error, not a bare "error"
    try:
        text = str(exc)
    except Exception:  # noqa: BLE001 - a broken __str__ must not lose the error itself
        text = f"(its message could not be shown: {object.__repr__(exc)})"
    return f"{name}: {text}" if text else name


def handler_failure(name: str, errors: list) -> HandlerError:
    """The error stop() raises for the first of a handler's kept errors.

    `errors` holds (connection number, peer, exception); number 0 means a datagram.
    """
    number, peer, exc = errors[0]
    where = f"connection #{number} from {peer}" if number else f"a datagram from {peer}"
    more = f" (and {len(errors) - 1} more errors; see server.trace)" if len(errors) > 1 else ""
    failure = HandlerError(
        f"The handler {name!r} raised {describe(exc)} while serving {where}{more}; "
        f"the handler's own traceback, shown with this error, points at the line.")
    failure.__cause__ = exc
    return failure


# -- the peer's ---------------------------------------------------------------------
#: Errors that mean "the other end went away", not "the handler has a bug".
PEER_GONE = (ConnectionResetError, BrokenPipeError, ConnectionAbortedError)


class PeerFault(SockcourseError):
    """The program at the other end broke the protocol; a server records it, it never blames the handler."""

    fault = Fault.PEER


class IncompleteMessage(PeerFault):
    """The peer closed its side with only part of a message sent (`recv_exactly` raises it).

    `partial` holds the bytes that did arrive; `expected` is how many were due.
    """

    def __init__(self, partial: bytes, expected: int, what: str = "message"):
        self.partial, self.expected, self.what = bytes(partial), expected, what
        super().__init__(f"The peer closed its side after {len(partial)} of the {expected} bytes of a {what}; "
                         f"a well-behaved peer sends whole {what}s, so this one is the peer's doing.")


# -- the course's -------------------------------------------------------------------
class CourseBugError(SockcourseError):
    """Something inside sockcourse went wrong that never should; the message asks for a report."""

    fault = Fault.COURSE


class NotRunningError(SockcourseError, RuntimeError):
    """Something was asked of a server, loop or peer that has already stopped (or never started)."""

    fault = Fault.CALLER


class TimeLimitError(SockcourseError, TimeoutError):
    """Something the course waited for did not finish in its time (`except TimeoutError` catches it)."""

    fault = Fault.CALLER


# -- the machine's ------------------------------------------------------------------
class BindError(SockcourseError, OSError):
    """The kernel refused to bind a course socket; the message says why and what to do."""

    fault = Fault.CALLER

    def __init__(self, message: str, code: int | None = None):
        super().__init__(message)
        self.errno = code


class AddressInUseError(BindError):
    """The address a server asked for is taken by another socket."""

    def __init__(self, message: str):
        super().__init__(message, errno.EADDRINUSE)


class BindPermissionError(BindError, PermissionError):
    """The process may not bind there (a port below 1024 without root, say)."""


class BuildError(SockcourseError):
    """A compiler was found but could not build a peer; the message quotes what it said."""

    fault = Fault.COURSE


class PeerError(SockcourseError):
    """A peer program (a second process) did not start or answer as expected; the message says why."""

    fault = Fault.PEER
