"""The `link` command: a fault-injecting relay in front of a server, from a terminal.

`python -m sockcourse link --to 127.0.0.1:5000 --loss 0.1` starts
`sockcourse.link.link()` and keeps it running until Ctrl-C (SIGINT) or
SIGTERM, so that a slow, lossy or choppy network can sit between netcat (or
a learner's script) and a server. It follows cli.py's convention: `add_parser`
sets up the subcommand, `run` runs it and returns the exit code, and bad
input raises cli.UsageError, which cli.main() prints as one sentence.
Times are given in milliseconds here, as people type them; the link takes seconds.
"""

from __future__ import annotations

import argparse
import sys
import textwrap

from ..core.errors import SockcourseError
from ..core.checks import check_loopback_host
from ..link import ACTIONS, MAX_DELAY, link

EXIT_OK, EXIT_FAILED = 0, 1

# option -> (setting, how to read it, what it takes in words, an example)
_OPTIONS = {
    "delay": ("delay", "ms", "a number of milliseconds", "--delay 50"),
    "jitter": ("jitter", "ms", "a number of milliseconds", "--jitter 10"),
    "loss": ("loss", "probability", "a probability from 0 to 1", "--loss 0.1"),
    "duplicate": ("duplicate", "probability", "a probability from 0 to 1", "--duplicate 0.1"),
    "reorder": ("reorder", "probability", "a probability from 0 to 1", "--reorder 0.1"),
    "chunk": ("chunk", "whole", "a whole number of bytes", "--chunk 10"),
    "gap": ("gap", "ms", "a number of milliseconds", "--gap 20"),
    "reset_after": ("reset_after", "whole", "a whole number of bytes", "--reset-after 100"),
    "rto": ("rto", "ms", "a number of milliseconds", "--rto 200"),
}


def add_parser(subparsers, prog: str) -> None:
    """Add the `link` subcommand to cli.py's subparsers."""
    sub = subparsers.add_parser(
        "link",
        help="put a slow, lossy or choppy network in front of a server until you press Ctrl-C",
        description=textwrap.fill(
            "Relay between clients and the server at --to, injecting the faults you ask for in "
            "both directions: delay, jitter, loss, duplicates and reordering (UDP), data cut into "
            "pieces and a reset (TCP). On TCP a lost piece is not lost for the program: it arrives "
            "after a retransmission timeout, and everything behind it waits. The link listens on "
            "loopback only and forwards only to loopback. Its first line of output says where it "
            "listens; point your client there. Press Ctrl-C (or send SIGTERM) to stop it.", width=78),
        epilog="\n".join([
            "examples:",
            f"  {prog} serve echo",
            "      a server to put the link in front of; it prints 'listening on 127.0.0.1:PORT'",
            f"  {prog} link --to 127.0.0.1:PORT --delay 100",
            "      every byte takes 100 ms longer each way",
            f"  {prog} link --to 127.0.0.1:PORT --chunk 3",
            "      the server's recv() gets at most 3 bytes at a time",
            f"  {prog} link --to 127.0.0.1:PORT --udp --loss 0.2 --reorder 0.1",
            "      a UDP path that loses a fifth of the datagrams and mixes some up",
            "",
            "then talk through it: nc 127.0.0.1 LINKPORT   (or nc -u for --udp)",
        ]),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub.add_argument("--to", metavar="HOST:PORT", required=True,
                     help="the server to forward to, on loopback, for example 127.0.0.1:5000 "
                          "(a port alone means 127.0.0.1)")
    sub.add_argument("--udp", action="store_true", help="relay UDP datagrams instead of a TCP stream")
    sub.add_argument("--delay", metavar="MS", help="extra time every piece takes, each way (default 0)")
    sub.add_argument("--jitter", metavar="MS", help="a random extra delay from 0 to MS, each way (default 0)")
    sub.add_argument("--loss", metavar="P", help="the probability that a piece is lost (default 0)")
    sub.add_argument("--duplicate", metavar="P", help="UDP: the probability that a datagram arrives twice")
    sub.add_argument("--reorder", metavar="P",
                     help="UDP: the probability that a datagram is held back until after the next one")
    sub.add_argument("--chunk", metavar="N", help="TCP: pass data on in pieces of at most N bytes")
    sub.add_argument("--gap", metavar="MS", help="TCP: time between two pieces of --chunk (default 5)")
    sub.add_argument("--reset-after", metavar="N", dest="reset_after",
                     help="TCP: reset the connection (RST) once N bytes have gone through one way")
    sub.add_argument("--rto", metavar="MS", help="TCP: the retransmission timeout for --loss (default 200)")
    sub.add_argument("--seed", metavar="N", help="seed of the random decisions, so a run can be repeated (default 0)")
    sub.add_argument("--port", metavar="N", help="the port the link listens on (default: 0, the kernel picks)")
    sub.add_argument("--host", metavar="H", help="the loopback address the link listens on (default 127.0.0.1)")
    sub.set_defaults(run=run, prog=sub.prog)


def _usage_error(message: str) -> Exception:
    from . import UsageError  # imported here: cli.py imports this module
    return UsageError(message)


def parse_target(text: str) -> tuple[str, int]:
    """'127.0.0.1:5000', '[::1]:5000' or '5000' -> (host, port); the link checks the rest."""
    host, port = "127.0.0.1", text
    if text.startswith("["):
        host, _, port = text[1:].partition("]")
        port = port[1:] if port.startswith(":") else ""
    elif ":" in text:
        host, _, port = text.rpartition(":")
    if not port.isdigit() or not host or int(port) == 0:
        raise _usage_error(
            f"The option --to takes the HOST:PORT of a running server, such as 127.0.0.1:5000, "
            f"but got {text!r}; copy the "
            f"address that '... serve' printed after 'listening on'."
        )
    try:
        host = check_loopback_host(host)
    except (TypeError, ValueError):
        raise _usage_error(
            f"The link forwards only to servers on this machine's loopback interface, but --to names "
            f"{host!r}; start the server here ('... serve echo') and pass --to 127.0.0.1:PORT."
        ) from None
    return host, int(port)


def _number(option: str, text: str):
    setting, kind, what, example = _OPTIONS[option]
    flag = "--" + option.replace("_", "-")
    try:
        value = int(text, 10) if kind == "whole" else float(text)
    except ValueError:
        raise _usage_error(f"The option {flag} takes {what}, but got {text!r}; for example {example}.") from None
    if kind == "ms":
        lowest = 1 if option == "rto" else 0
        highest = 1000 if option == "gap" else MAX_DELAY * 1000
        if not lowest <= value <= highest:
            raise _usage_error(f"The option {flag} takes {what} from {lowest} to {highest:.0f}, "
                               f"but got {text!r}; for example {example}.")
        value /= 1000
    elif kind == "whole":
        lowest = 1 if option == "chunk" else 0
        if value < lowest:
            raise _usage_error(f"The option {flag} takes {what}, {lowest} or more, but got {text!r}; "
                               f"for example {example}, or leave {flag} out for none.")
    return setting, value


def settings_from(args) -> dict:
    """The link settings that the options ask for (only those given)."""
    settings = {}
    for option in _OPTIONS:
        text = getattr(args, option, None)
        if text is not None:
            setting, value = _number(option, text)
            settings[setting] = value
    return settings


def _whole(text, flag: str, example: str) -> int:
    if text is None:
        return 0
    try:
        return int(text, 10)
    except ValueError:
        raise _usage_error(f"The option {flag} takes a whole number, but got {text!r}; for example {example}.") from None


def run(args) -> int:
    """Run the link until SIGINT or SIGTERM; return the exit code."""
    from . import StopSignals

    target = parse_target(args.to)
    settings = settings_from(args)
    transport = "udp" if args.udp else "tcp"
    where = {"host": args.host or "127.0.0.1", "port": _whole(args.port, "--port", "--port 0"),
             "seed": _whole(args.seed, "--seed", "--seed 1")}
    with StopSignals() as stop_signals:
        try:
            relay = link(target, transport=transport, **where, **settings)
        except (SockcourseError, ValueError, TypeError, OSError) as exc:
            raise _usage_error(_as_options(str(exc))) from None
        try:
            host, port = relay.address
            print(f"listening on {f'[{host}]' if ':' in host else host}:{port}", flush=True)
            print(_hint(relay, settings), file=sys.stderr, flush=True)
            stop_signals.wait()
        finally:
            try:
                relay.stop()
            except SockcourseError as exc:
                print(f"{args.prog}: error: {exc}", file=sys.stderr, flush=True)
                return EXIT_FAILED
    print(summary(relay.counts()), file=sys.stderr, flush=True)
    return EXIT_OK


def _as_options(message: str) -> str:
    # The link's sentences name keyword arguments; on the command line they are options.
    message = message.replace("use transport='udp'", "add --udp").replace("use transport='tcp'", "drop --udp")
    for name in [*_OPTIONS, "host", "port", "seed"]:
        message = message.replace(f"{name}=", f"--{name.replace('_', '-')} ")
    return message


def _hint(relay, settings: dict) -> str:
    faults = ", ".join(
        f"{name} {value * 1000:g} ms" if name in ("delay", "jitter", "rto", "gap") else f"{name} {value:g}"
        for name, value in settings.items()) or "no faults"
    client = f"nc{' -u' if relay.transport == 'udp' else ''} {relay.host} {relay.port}"
    return (f"Relaying {relay.transport.upper()} to {relay.target[0]}:{relay.target[1]} with {faults}; "
            f"try '{client}' in another terminal. Press Ctrl-C to stop.")


def summary(counts: dict) -> str:
    """One line that says what the link did, for the end of a run."""
    done = [f"{counts[action]} {action}" for action in ACTIONS if counts.get(action)]
    return f"The link stopped; what it did: {', '.join(done) or 'nothing passed through it'}."
