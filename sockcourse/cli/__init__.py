"""The command line: run the course's servers from a terminal.

`python -m sockcourse serve echo` starts a stock server with `sockcourse.serve()`
and keeps it running until Ctrl-C (SIGINT) or SIGTERM, so that netcat,
telnet or a learner's own script in another terminal can talk to it.

Each subcommand is one function that sets up its parser (`_add_serve` here,
or `add_parser` in a module of its own) and one that runs it; `SUBCOMMANDS`
lists the first kind. A subcommand returns its exit code, and raises `UsageError` for bad input,
which `main()` turns into one sentence on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import contextlib
import re
import selectors
import shlex
import signal
import socket
import sys
import textwrap
import threading

from ..servers import handlers
from ..core.errors import HandlerError, SockcourseError
from ..servers.threaded import serve

#: Exit codes: 0 all went well, 1 the server's handler failed, 2 bad input.
EXIT_OK, EXIT_HANDLER_FAILED, EXIT_USAGE = 0, 1, 2

#: The signals that end a running server in good order.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)

# The main thread wakes up at once on a signal; this tick only bounds how long
# a lost wake-up byte could delay the stop.
_WAIT_TICK = 1.0


class UsageError(SockcourseError):
    """Bad input on the command line; its message is one whole sentence."""


# -- the parser ----------------------------------------------------------------
def build_parser(prog: str = "sockcourse") -> argparse.ArgumentParser:
    """The parser of the whole command line, with one subparser per subcommand."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description=(
            "Tools of the course 'the birth, life and death of a socket'. Everything "
            "runs on this machine's loopback interface only, never on a real network."
        ),
        epilog=f"Run '{prog} COMMAND --help' to read about one command.",
    )
    parser.set_defaults(run=None)
    subparsers = parser.add_subparsers(title="commands", dest="command", metavar="COMMAND")
    for add in SUBCOMMANDS:
        add(subparsers, prog)
    return parser


def _add_serve(subparsers, prog: str) -> None:
    names = ", ".join(handlers.BY_NAME)
    sub = subparsers.add_parser(
        "serve",
        help="run one of the course's stock servers until you press Ctrl-C",
        # Raw formatting keeps the examples' lines; the prose is wrapped here instead.
        description=textwrap.fill(
            "Run one of the course's stock servers in this terminal, so that another "
            "program (netcat, telnet, your own script) can talk to it. It listens on "
            "loopback only. Its first line of output says where it listens, for example "
            "'listening on 127.0.0.1:40123'; by default the kernel picks a free port. "
            "Press Ctrl-C (or send SIGTERM) to stop it.", width=78),
        epilog="\n".join([
            "examples:",
            f"  {prog} serve echo",
            "      a TCP echo server on a port the kernel picks",
            f"  {prog} serve upper --port 9000",
            "      a TCP server on port 9000 that answers in upper case",
            f"  {prog} serve echo --udp",
            "      a UDP echo server",
            f"  {prog} serve echo --unix /tmp/echo.sock [--udp]",
            "      a UNIX stream (or datagram) echo server at /tmp/echo.sock",
            f"  {prog} serve echo --tls --ca-out ca.pem",
            "      a TLS echo server; ca.pem is the certificate of its throw-away CA",
            "",
            "then talk to it from another terminal, for example:",
            "  nc 127.0.0.1 PORT      nc -u 127.0.0.1 PORT      nc -U /tmp/echo.sock",
            "  openssl s_client -connect 127.0.0.1:PORT -servername localhost -CAfile ca.pem",
        ]),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub.add_argument("handler", metavar="HANDLER",
                     help=f"what the server does with what it receives; one of: {names}")
    sub.add_argument("--udp", action="store_true",
                     help="serve datagrams (UDP, or UNIX datagrams with --unix) instead of a stream")
    sub.add_argument("--unix", metavar="PATH",
                     help="listen on a UNIX socket file at PATH instead of a TCP/UDP port; "
                          "the file must not exist yet, and is removed when the server stops")
    sub.add_argument("--port", metavar="N",
                     help="the port to listen on, 0 to 65535 (default: 0, the kernel picks a free one)")
    sub.add_argument("--host", metavar="H",
                     help="the loopback address to listen on: 127.0.0.1 (the default) or ::1")
    sub.add_argument("--tls", action="store_true",
                     help="serve over TLS, with a certificate for localhost from a throw-away "
                          "certificate authority made at start-up (see --ca-out)")
    sub.add_argument("--ca-out", metavar="FILE",
                     help="with --tls: write the authority's certificate (PEM) to FILE before the "
                          "first line of output, so that clients can verify the server")
    sub.set_defaults(run=_serve, prog=sub.prog)


#: Each function adds one subcommand, given the subparsers and the program's
#: name (for its examples); `link` and `bench` will join them.
from .link import add_parser as _add_link  # noqa: E402  (it needs UsageError, defined above)
from ..bench.suite import add_parser as _add_bench  # noqa: E402

SUBCOMMANDS = [_add_serve, _add_link, _add_bench]


# -- serve ---------------------------------------------------------------------
def _serve(args) -> int:
    handler = _pick_handler(args.handler, datagram=args.udp)
    transport, where = _transport_and_address(args)
    _check_tls_options(args)
    with StopSignals() as stop_signals, _authority(args) as authority:
        try:
            server = serve(handler, transport=transport,
                           # A terminal session may sit idle for long; Ctrl-C ends it anyway.
                           idle_timeout=None, tls=authority, **where)
        except (SockcourseError, ValueError, TypeError, OSError) as exc:
            raise UsageError(in_option_words(str(exc), args.unix)) from None
        failure = None
        try:
            if args.ca_out is not None:
                _write_ca(authority, args.ca_out)
            print(f"listening on {_address_text(server)}", flush=True)
            print(_hint(server, args.handler, args.ca_out), file=sys.stderr, flush=True)
            stop_signals.wait()
        finally:
            # Also on an unexpected error: a UNIX socket file must not outlive the server.
            try:
                server.stop()
            except HandlerError as exc:
                failure = exc
    if failure is not None:
        print(f"{args.prog}: error: {_handler_failure(failure, args.handler)}", file=sys.stderr, flush=True)
        return EXIT_HANDLER_FAILED
    return EXIT_OK


def _check_tls_options(args) -> None:
    if args.ca_out is not None and not args.tls:
        raise UsageError(f"--ca-out {args.ca_out} writes the certificate authority of a TLS server, "
                         f"but --tls is missing; add --tls.")
    if args.tls and args.udp:
        raise UsageError("TLS runs over a stream, and --udp asks for datagrams (DTLS is not "
                         "available here); drop --udp, or drop --tls.")


def _authority(args):
    """A throw-away certificate authority for --tls, closed (its files removed) at the end."""
    if not args.tls:
        return contextlib.nullcontext(None)
    from ..tls.ca import CertificateAuthority  # only here: it imports trustme and cryptography
    return CertificateAuthority()


def _write_ca(authority, path: str) -> None:
    try:
        with open(path, "wb") as out:
            out.write(authority.cert_pem)
    except OSError as exc:
        raise UsageError(f"Could not write the CA certificate to {path!r} ({exc.strerror or exc}); "
                         f"pass --ca-out a file in a folder that exists and that you may write to.") from None


def _pick_handler(name: str, *, datagram: bool):
    names = ", ".join(handlers.BY_NAME)
    handler = handlers.BY_NAME.get(name)
    if handler is None:
        raise UsageError(
            f"Unknown handler {name!r}; expected one of: {names} "
            f"(for example 'serve echo')."
        )
    if datagram and not hasattr(handler, "datagram"):
        able = ", ".join(n for n, h in handlers.BY_NAME.items() if hasattr(h, "datagram"))
        raise UsageError(
            f"The handler {name!r} acts on a connection, and datagrams (--udp) have none; "
            f"drop --udp, or pick one that works with datagrams: {able}."
        )
    return handler


def _transport_and_address(args) -> tuple[str, dict]:
    if args.unix is not None:
        if args.port is not None or args.host is not None:
            raise UsageError(
                f"A UNIX socket is named by its path ({args.unix!r}), not by a host and port, "
                f"so --unix takes no --host or --port; drop them, or drop --unix to listen on a port."
            )
        return ("unix_dgram" if args.udp else "unix"), {"path": args.unix}
    where = {"host": "127.0.0.1" if args.host is None else args.host, "port": 0}
    if args.port is not None:
        try:
            where["port"] = int(args.port, 10)
        except ValueError:
            raise UsageError(
                f"The port must be a whole number from 0 to 65535, but got {args.port!r}; "
                f"try --port 0 to let the kernel choose a free port."
            ) from None
    return ("udp" if args.udp else "tcp"), where


def in_option_words(message: str, path: str | None = None) -> str:
    """Reword a sentence written for Python callers ("use port=0") for the command line.

    The checks in errors.py and serve() speak in keyword arguments; at a terminal
    the same advice reads "use --port 0". A sentence with nothing to reword stays as it is.
    """
    message = re.sub(r"\b(host|port)='?([^'\s,;)]+)'?", r"--\1 \2", message)
    # There is no path=None on the command line: leaving out --unix means TCP, not a temp file.
    message = re.sub(r",? or leave path=None[^.;]*", "", message)
    return message.replace("os.unlink(path)", f"rm {shlex.quote(path)}" if path else "rm")


def _address_text(server) -> str:
    if server.path is not None:
        return server.path
    host, port = server.address[0], server.address[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _hint(server, name: str, ca_out: str | None = None) -> str:
    """One line for the human at the terminal: how to reach the server, how to stop it."""
    if server.tls is not None:
        if server.path is not None:
            return (f"Serving {name!r} over TLS on a UNIX socket; connect with Python's ssl module and "
                    f"server_hostname='localhost'. Press Ctrl-C to stop.")
        ca = shlex.quote(ca_out) if ca_out else "CA.pem"
        client = f"openssl s_client -connect {_address_text(server)} -servername localhost -CAfile {ca}"
        more = "" if ca_out else " (add --ca-out CA.pem to get the CA file that client needs)"
        return f"Serving {name!r} over TLS; try '{client}' in another terminal{more}. Press Ctrl-C to stop."
    if server.path is not None:
        client = f"nc -U{'u' if server.transport == 'unix_dgram' else ''} {server.path}"
    else:
        client = f"nc{' -u' if server.transport == 'udp' else ''} {server.host} {server.port}"
    return f"Serving {name!r} over {server.transport}; try '{client}' in another terminal. Press Ctrl-C to stop."


def _handler_failure(exc: HandlerError, name: str) -> str:
    cause = exc.__cause__
    if cause is None:  # threads that would not stop: the message says all
        return str(exc)
    # One line, no traceback: the terminal shows the error, a notebook can show the line.
    said = " ".join(str(cause).split())  # a message with newlines would break the one line
    return (f"The handler {name!r} raised {type(cause).__name__}: {said}; the server has "
            f"stopped (run it with sockcourse.serve() in a notebook to see the failing line).")


class StopSignals:
    """Turns SIGINT and SIGTERM into a wake-up that the main thread waits for.

    The Python-level handler only notes the signal: anything that takes a lock
    (Event.set, print) could deadlock if the signal lands while the main thread
    holds that lock. The wake-up itself comes from `signal.set_wakeup_fd`,
    which the interpreter writes to as soon as a signal arrives.
    """

    def __init__(self):
        self.received: list[int] = []
        self._reader = self._writer = None
        self._old_handlers: dict = {}
        self._old_wakeup_fd = -1

    def __enter__(self) -> "StopSignals":
        if threading.current_thread() is not threading.main_thread():
            raise UsageError(
                "The serve command must run in the main thread, because only it receives "
                "Ctrl-C; call sockcourse.serve() instead when you are inside a program."
            )
        self._reader, self._writer = socket.socketpair()
        self._reader.setblocking(False)
        self._writer.setblocking(False)
        try:
            self._old_wakeup_fd = signal.set_wakeup_fd(self._writer.fileno(), warn_on_full_buffer=False)
            for signum in STOP_SIGNALS:
                self._old_handlers[signum] = signal.signal(signum, self._note)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _note(self, signum, frame) -> None:
        self.received.append(signum)

    def wait(self) -> int:
        """Block until a stop signal has arrived; return its number."""
        with selectors.DefaultSelector() as selector:
            selector.register(self._reader, selectors.EVENT_READ)
            while not self.received:
                if selector.select(timeout=_WAIT_TICK):
                    self._drain()
        return self.received[0]

    def _drain(self) -> None:
        try:
            while self._reader.recv(64):
                pass
        except (BlockingIOError, InterruptedError):
            pass

    def __exit__(self, exc_type, exc, tb) -> None:
        for signum, handler in self._old_handlers.items():
            signal.signal(signum, handler)
        self._old_handlers.clear()
        if self._writer is not None:
            signal.set_wakeup_fd(self._old_wakeup_fd)
        for sock in (self._reader, self._writer):
            if sock is not None:
                sock.close()
        self._reader = self._writer = None


# -- entry point -----------------------------------------------------------------
def main(argv: list[str] | None = None, prog: str = "sockcourse") -> int:
    """Run the command line; return the exit code (the console script exits with it)."""
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    if args.run is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return args.run(args)
    except UsageError as exc:
        print(f"{args.prog}: error: {exc}", file=sys.stderr, flush=True)
        return EXIT_USAGE
