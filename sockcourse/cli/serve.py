"""The `serve` command: one of the course's stock servers, in a terminal, until Ctrl-C.

`python -m sockcourse serve echo` starts `sockcourse.serve()` and keeps it
running until Ctrl-C (SIGINT), SIGTERM or SIGHUP (the terminal closed), so
that netcat, telnet or a learner's own script in another terminal can talk
to it. `serve()` checks the options it is given; its sentences reach the
terminal through `option_words()`, reworded for options.
"""

from __future__ import annotations

import argparse
import contextlib
import shlex
import textwrap

from ..core.addresses import host_port, peer_text
from ..core.errors import HandlerError, SockcourseError, describe
from ..servers import handlers
from ..servers.threaded import serve
from .common import EXIT_FAILED, EXIT_OK, StopSignals, UsageError, one_line, option_words, say, whole_number


def add_parser(subparsers, prog: str) -> None:
    """Add the `serve` subcommand; `prog` names the program in the examples."""
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
            "Press Ctrl-C (or send SIGTERM, or close the terminal) to stop it.", width=78),
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
            "  openssl s_client -connect 127.0.0.1:PORT -servername localhost -verify_hostname localhost \\",
            "                   -verify_return_error -CAfile ca.pem",
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
    sub.set_defaults(run=run, prog=sub.prog)


def run(args) -> int:
    """Serve until a stop signal; return the exit code."""
    handler = _pick_handler(args.handler)
    transport, where = _transport_and_address(args)
    _check_tls_options(args)
    with StopSignals("serve") as stop_signals, _authority(args) as authority:
        try:
            server = serve(handler, transport=transport,
                           # A terminal session may sit idle for long; Ctrl-C ends it anyway.
                           idle_timeout=None, tls=authority, **where)
        except (SockcourseError, ValueError, TypeError, OSError) as exc:
            raise UsageError(option_words(str(exc), path=args.unix)) from None

        def announce() -> None:
            if args.ca_out is not None:
                _write_ca(authority, args.ca_out)
            print(f"listening on {peer_text(server.address)}", flush=True)
            say(_hint(server, args.handler, args.ca_out))

        failure = stop_signals.hold(server, announce)
    if failure is not None:
        say(f"{args.prog}: error: {_handler_failure(failure, args.handler)}")
        return EXIT_FAILED
    return EXIT_OK


def _pick_handler(name: str):
    # Whether the handler suits the transport is serve()'s to say; which names exist is ours.
    handler = handlers.BY_NAME.get(name)
    if handler is None:
        raise UsageError(f"Unknown handler {name!r}; expected one of: {', '.join(handlers.BY_NAME)} "
                         f"(for example 'serve echo').")
    return handler


def _transport_and_address(args) -> tuple[str, dict]:
    if args.unix is not None:
        if args.port is not None or args.host is not None:
            raise UsageError(
                f"A UNIX socket is named by its path ({args.unix!r}), not by a host and port, "
                f"so --unix takes no --host or --port; drop them, or drop --unix to listen on a port.")
        return ("unix_dgram" if args.udp else "unix"), {"path": args.unix}
    where = {"host": "127.0.0.1" if args.host is None else args.host, "port": 0}
    if args.port is not None:
        where["port"] = whole_number(args.port, "--port", low=0, high=65535, example="--port 0",
                                     hint="try --port 0 to let the kernel choose a free port")
    return ("udp" if args.udp else "tcp"), where


def _check_tls_options(args) -> None:
    # Checked here, before the certificate authority is made (which takes a moment):
    # serve() would refuse TLS over datagrams too, but only once it exists.
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
    # Imported only for --tls: trustme and cryptography take longer to import than
    # the plain server takes to start, and most runs never need them.
    from ..tls.ca import CertificateAuthority
    return CertificateAuthority()


def _write_ca(authority, path: str) -> None:
    try:
        with open(path, "wb") as out:
            out.write(authority.cert_pem)
    except OSError as exc:
        raise UsageError(f"Could not write the CA certificate to {path!r} ({exc.strerror or exc}); "
                         f"pass --ca-out a file in a folder that exists and that you may write to.") from None


def _hint(server, name: str, ca_out: str | None = None) -> str:
    """One line for the human at the terminal: how to reach the server, how to stop it."""
    if server.tls is not None:
        if server.path is not None:
            return (f"Serving {name!r} over TLS on a UNIX socket; connect with Python's ssl module and "
                    f"server_hostname='localhost'. Press Ctrl-C to stop.")
        ca = shlex.quote(ca_out) if ca_out else "CA.pem"
        client = (f"openssl s_client -connect {host_port(server.host, server.port)} "
                  f"-servername localhost -verify_hostname localhost -verify_return_error -CAfile {ca}")
        more = "" if ca_out else " (add --ca-out CA.pem to get the CA file that client needs)"
        return f"Serving {name!r} over TLS; try '{client}' in another terminal{more}. Press Ctrl-C to stop."
    if server.path is not None:
        client = f"nc -U{'u' if server.transport == 'unix_dgram' else ''} {shlex.quote(server.path)}"
    else:
        client = f"nc{' -u' if server.transport == 'udp' else ''} {server.host} {server.port}"
    return f"Serving {name!r} over {server.transport}; try '{client}' in another terminal. Press Ctrl-C to stop."


def _handler_failure(exc: HandlerError, name: str) -> str:
    cause = exc.__cause__
    if cause is None:  # threads that would not stop: the message says all
        return str(exc)
    # One line, no traceback: the terminal shows the error, a notebook can show the line.
    return (f"The handler {name!r} raised {one_line(describe(cause))}; the server has stopped "
            f"(run it with sockcourse.serve() in a notebook to see the failing line).")
