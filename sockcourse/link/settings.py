"""What a link may be told to do, per direction, and the checks that refuse bad settings."""

from __future__ import annotations

import dataclasses
import difflib
import numbers
from dataclasses import dataclass

from ..core.errors import ArgumentError, ArgumentTypeError
from .limits import DIRECTIONS, MAX_DELAY


@dataclass(frozen=True)
class Settings:
    """The faults of one direction; the module docstring says what each one does."""

    delay: float = 0.0
    jitter: float = 0.0
    loss: float = 0.0
    duplicate: float = 0.0
    reorder: float = 0.0
    chunk: int | None = None
    gap: float = 0.005
    reset_after: int | None = None
    rto: float = 0.2

    @property
    def faulty(self) -> bool:
        """Whether anything would make the link do more than pass data on."""
        return bool(self.delay or self.jitter or self.loss or self.duplicate or self.reorder
                    or self.chunk is not None or self.reset_after is not None)

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


# name -> (what a good value is, smallest, largest, transports, an example)
_SPECS = {
    "delay": ("a number of seconds from 0 to 10", 0.0, MAX_DELAY, ("tcp", "udp"), "delay=0.05 (50 ms)"),
    "jitter": ("a number of seconds from 0 to 10", 0.0, MAX_DELAY, ("tcp", "udp"), "jitter=0.01 (10 ms)"),
    "loss": ("a probability from 0 to 1", 0.0, 1.0, ("tcp", "udp"), "loss=0.1 (10 %)"),
    "duplicate": ("a probability from 0 to 1", 0.0, 1.0, ("udp",), "duplicate=0.1 (10 %)"),
    "reorder": ("a probability from 0 to 1", 0.0, 1.0, ("udp",), "reorder=0.1 (10 %)"),
    "chunk": ("a whole number of bytes, 1 or more, or None", 1, None, ("tcp",), "chunk=10"),
    "gap": ("a number of seconds from 0 to 1", 0.0, 1.0, ("tcp",), "gap=0.01 (10 ms)"),
    "reset_after": ("a whole number of bytes, 0 or more, or None", 0, None, ("tcp",), "reset_after=100"),
    "rto": ("a number of seconds from 0.001 to 10", 0.001, MAX_DELAY, ("tcp",), "rto=0.2 (200 ms)"),
}
_WHOLE = ("chunk", "reset_after")

# Why a setting means nothing for the other transport.
_WHY_NOT = {
    "duplicate": "TCP never hands a program the same byte twice, since the receiver uses sequence "
                 "numbers to throw copies away; use transport='udp' to see duplicates",
    "reorder": "TCP hands bytes over in the order they were sent, whatever order its segments "
               "arrive in; use transport='udp' to see reordering",
    "chunk": "a datagram arrives whole or not at all, so the link cannot cut it into pieces; "
             "use transport='tcp' to see a stream arrive in pieces",
    "gap": "it spaces out the pieces that chunk makes, and UDP has no chunks; leave it out",
    "reset_after": "UDP has no connection that could be reset; use transport='tcp'",
    "rto": "UDP never retransmits, a lost datagram is simply gone; leave rto out",
}


def _range_hint(name: str, value) -> str:
    if name in ("loss", "duplicate", "reorder") and value > 1:
        return f"a probability is a fraction, so 20 % is {name}=0.2"
    if name in ("delay", "jitter", "rto") and value > MAX_DELAY:
        return f"times are in seconds, so 100 ms is {name}=0.1"
    if name == "chunk":
        return "use chunk=None to pass data on as it comes"
    if value < 0:
        return f"use {name}=0 for none"
    return f"for example {_SPECS[name][4]}"


def check_setting(name: str, value, transport: str):
    """Return `value` as the setting `name` stores it, or raise with a sentence that explains."""
    if name not in _SPECS:
        close = difflib.get_close_matches(str(name), _SPECS, n=1)
        hint = f"did you mean {close[0]}?" if close else f"for example {_SPECS['loss'][4]}"
        raise ArgumentTypeError(f"The link has no setting {name!r}; expected one of {', '.join(_SPECS)} ({hint}).")
    what, low, high, transports, example = _SPECS[name]
    if value is None and name in _WHOLE:
        return None
    wanted = numbers.Integral if name in _WHOLE else numbers.Real
    if isinstance(value, bool) or not isinstance(value, wanted):
        raise ArgumentTypeError(f"The {name} must be {what}, but got {value!r} (type {type(value).__name__}); "
                        f"pass a number, for example {example}.")
    if transport not in transports and value != 0:
        raise ArgumentError(f"The setting {name}={value!r} means nothing on a {transport.upper()} link: "
                         f"{_WHY_NOT[name]}.")
    # Written so that NaN fails too: every comparison with NaN is false.
    if not (value >= low and (high is None or value <= high)):
        raise ArgumentError(f"The {name} must be {what}, but got {value!r}; {_range_hint(name, value)}.")
    return int(value) if name in _WHOLE else float(value)


def check_settings(settings: dict, transport: str) -> dict:
    """Check every setting in `settings` (all of them before any is used)."""
    return {name: check_setting(name, value, transport) for name, value in settings.items()}


def check_directions(direction) -> tuple[str, ...]:
    """The directions `direction` names: 'to_server', 'to_client', or both for 'both'."""
    if direction == "both":
        return DIRECTIONS
    if direction in DIRECTIONS:
        return (direction,)
    raise ArgumentError(
        f"The direction must be 'to_server' (client to server), 'to_client' (server to client) "
        f"or 'both', but got {direction!r}; for example link.set('to_server', loss=0.1)."
    )
