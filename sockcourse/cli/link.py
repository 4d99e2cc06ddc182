"""The `link` command: a fault-injecting relay in front of a server, from a terminal.

`python -m sockcourse link --to 127.0.0.1:5000 --loss 0.1` starts
`sockcourse.link.link()` and keeps it running until Ctrl-C (SIGINT), SIGTERM
or SIGHUP (the terminal closed), so that a slow, lossy or choppy network can
sit between netcat (or a learner's script) and a server. Times are given in
milliseconds here, as people type them; the link takes seconds.
"""

from __future__ import annotations

import argparse
import textwrap

from ..core.addresses import host_port, peer_text
from ..core.checks import check_loopback_host
from ..core.errors import SockcourseError
from ..link import MAX_DELAY, link, summary
from .common import EXIT_FAILED, EXIT_OK, StopSignals, UsageError, one_line, option_words, say, whole_number

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
#: The link's keyword arguments that are options of this command, for option_words().
_WORDS = (*_OPTIONS, "host", "port", "seed")
_MILLISECONDS = tuple(option for option, (_, kind, _, _) in _OPTIONS.items() if kind == "ms")


def add_parser(subparsers, prog: str) -> None:
    """Add the `link` subcommand; `prog` names the program in the examples."""
    sub = subparsers.add_parser(
        "link",
        help="put a slow, lossy or choppy network in front of a server until you press Ctrl-C",
        description=textwrap.fill(
            "Relay between clients and the server at --to, injecting the faults you ask for in "
            "both directions: delay, jitter, loss, duplicates and reordering (UDP), data cut into "
            "pieces and a reset (TCP). On TCP a lost piece is not lost for the program: it arrives "
            "after a retransmission timeout, and everything behind it waits. The link listens on "
            "loopback only and forwards only to loopback. Its first line of output says where it "
            "listens; point your client there. Press Ctrl-C (or send SIGTERM, or close the "
            "terminal) to stop it.", width=78),
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


def parse_target(text: str) -> tuple[str, int]:
    """'127.0.0.1:5000', '[::1]:5000' or '5000' -> (host, port) on loopback; a UsageError otherwise."""
    host, port = "127.0.0.1", text
    if text.startswith("["):
        host, _, port = text[1:].partition("]")
        port = port[1:] if port.startswith(":") else ""
    elif ":" in text:
        host, _, port = text.rpartition(":")
    # ASCII digits only: '²' passes str.isdigit() and then fails int().
    if not (port.isascii() and port.isdigit()) or not host or not 0 < int(port) <= 65535:
        raise UsageError(
            f"The option --to takes the HOST:PORT of a running server, such as 127.0.0.1:5000 "
            f"(a port from 1 to 65535), but got {text!r}; copy the address that '... serve' "
            f"printed after 'listening on'.")
    try:
        host = check_loopback_host(host)
    except (TypeError, ValueError):
        raise UsageError(
            f"The link forwards only to servers on this machine's loopback interface, but --to names "
            f"{host!r}; start the server here ('... serve echo') and pass --to 127.0.0.1:PORT.") from None
    return host, int(port)


def _number(option: str, text: str):
    setting, kind, what, example = _OPTIONS[option]
    flag = "--" + option.replace("_", "-")
    if kind == "whole":
        lowest = 1 if option == "chunk" else 0
        return setting, whole_number(text, flag, low=lowest, example=example,
                                     hint=f"for example {example}, or leave {flag} out for none")
    try:
        value = float(text)
    except ValueError:
        raise UsageError(f"The option {flag} takes {what}, but got {text!r}; for example {example}.") from None
    if kind == "ms":
        lowest = 1 if option == "rto" else 0
        highest = 1000 if option == "gap" else MAX_DELAY * 1000
        # Written so that NaN fails too: every comparison with NaN is false.
        if not lowest <= value <= highest:
            raise UsageError(f"The option {flag} takes {what} from {lowest} to {highest:.0f}, "
                             f"but got {text!r}; for example {example}.")
        value /= 1000
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


def run(args) -> int:
    """Run the link until a stop signal; return the exit code."""
    target = parse_target(args.to)
    settings = settings_from(args)
    transport = "udp" if args.udp else "tcp"
    port = 0 if args.port is None else whole_number(args.port, "--port", low=0, high=65535, example="--port 0",
                                                    hint="try --port 0 to let the kernel choose a free port")
    seed = 0 if args.seed is None else whole_number(args.seed, "--seed", example="--seed 1")
    with StopSignals("link") as stop_signals:
        try:
            relay = link(target, transport=transport, host="127.0.0.1" if args.host is None else args.host,
                         port=port, seed=seed, **settings)
        except (SockcourseError, ValueError, TypeError, OSError) as exc:
            raise UsageError(option_words(str(exc), options=_WORDS, ms=_MILLISECONDS)) from None

        def announce() -> None:
            print(f"listening on {peer_text(relay.address)}", flush=True)
            say(_hint(relay, settings))

        failure = stop_signals.hold(relay, announce)
    if failure is not None:
        say(f"{args.prog}: error: {one_line(failure)}")
        return EXIT_FAILED
    say(f"The link stopped; what it did: {summary(relay.counts())}.")
    return EXIT_OK


def _hint(relay, settings: dict) -> str:
    faults = ", ".join(
        f"{name} {value * 1000:g} ms" if name in _MILLISECONDS else f"{name} {value:g}"
        for name, value in settings.items()) or "no faults"
    host, port = relay.address[:2]
    client = f"nc{' -u' if relay.transport == 'udp' else ''} {host} {port}"
    return (f"Relaying {relay.transport.upper()} to {host_port(*relay.target[:2])} with {faults}; "
            f"try '{client}' in another terminal. Press Ctrl-C to stop.")

