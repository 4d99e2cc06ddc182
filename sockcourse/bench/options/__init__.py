"""Chapter 07's experiments: each socket option made to change a number, on real sockets.

Each module here runs the experiments for a few options and returns plain
data; `sockcourse.viz` draws it and chapter 07 shows it:

- `restart`: SO_REUSEADDR (a restart while TIME_WAIT lingers), SO_REUSEPORT
  (two listeners sharing a port), SO_LINGER (close() as a reset), SO_ERROR
  (the result of a non-blocking connect).
- `small`: SO_RCVTIMEO and SO_SNDTIMEO, SO_TYPE, SO_BROADCAST, SO_DONTROUTE,
  urgent data with MSG_OOB and SO_OOBINLINE, SO_RCVLOWAT, and the options
  Linux does not do.
- `timing`: TCP_NODELAY (Nagle meets delayed ACK), SO_SNDBUF and SO_RCVBUF
  (what Linux keeps, and throughput against buffer size).
- `vanish`: SO_KEEPALIVE finding a peer that vanished, and TCP_INFO while a
  path goes dark, both in a private network namespace of their own.

Every module also offers `EXPLORE`: for each option it covers, a small
experiment that takes one value, runs in about a second at most, and returns
a `Tried`, the one shape the explorer widget shows.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Tried:
    """One small experiment with one option value: what was asked, what the kernel kept, what changed."""

    option: str            # "TCP_NODELAY"
    value: object          # the value the learner picked
    readback: object       # what the kernel answered when asked back (options.get), or None if not readable
    number: float | int | None  # the one number that shows the effect, None if it did not run
    unit: str              # what the number counts: "ms per round", "bytes received", ...
    sentence: str          # one whole sentence a learner reads: what happened, with the number

    def to_dict(self) -> dict:
        return {"option": self.option, "value": self.value, "readback": self.readback,
                "number": self.number, "unit": self.unit, "sentence": self.sentence}


#: The modules whose EXPLORE the explorer offers, in the chapter's order.
MODULES = ("restart", "small", "timing", "vanish")


def experiments() -> dict:
    """Every small experiment the modules offer: option name -> (run, the values to offer), in the table's order."""
    import importlib

    from ...kernel.options import OPTIONS

    found = {}
    for name in MODULES:
        module = importlib.import_module(f"{__name__}.{name}")
        values = getattr(module, "VALUES", {})
        for option, run in getattr(module, "EXPLORE", {}).items():
            found[option] = (run, list(values.get(option, ())))
    order = {opt.name: i for i, opt in enumerate(OPTIONS)}
    return dict(sorted(found.items(), key=lambda item: order.get(item[0], len(order))))


def explore(option, value) -> Tried:
    """Run the small experiment for one option and value, as the explorer does, without widgets."""
    from ...core.errors import ArgumentError, ArgumentTypeError

    if not isinstance(option, str):
        raise ArgumentTypeError(f"An option is named by a string such as 'TCP_NODELAY', but got {option!r} "
                                f"(type {type(option).__name__}).")
    offered = experiments()
    wanted = option.strip().upper()
    if wanted not in offered:
        raise ArgumentError(f"The explorer has no experiment for {option!r}; it has one for "
                            f"{', '.join(offered)}. The rest of the chapter's options are in the live table.")
    run, _values = offered[wanted]
    return run(value)
