"""The TCP connection state machine, as plain data.

Source: RFC 9293 (August 2022), section 3.3.2 "State Machine Overview",
Figure 5 "TCP Connection State Diagram", which redraws RFC 793 (September
1981) Figure 6. The RFC warns that the figure "is only a summary and must not
be taken as the total specification"; so is this module. Two things the RFC's
notes mention but the figure leaves out are handled here as follows:

* Note 2 (FIN-WAIT-1 straight to TIME-WAIT when a FIN arrives together with
  the ACK of our own FIN) is in `TRANSITIONS`, marked with note=2.
* Note 3 (a RST may be sent from any state, with a step to TIME-WAIT; a RST
  that arrives moves any state to LISTEN or CLOSED) is not drawn; pass
  `resets=True` to `is_transition` to accept those steps.

One change from RFC 793: when SYN-SENT receives a bare SYN (simultaneous
open), RFC 9293 answers with SYN,ACK where RFC 793's figure said ACK.

State names are spelled with underscores (FIN_WAIT_1), so they are valid
Python identifiers; the RFC writes them with hyphens (FIN-WAIT-1). The kernel
(and psutil, `ss`, `netstat`) use a third spelling, mapped by `KERNEL_NAMES`.
Nothing here imports matplotlib: `sockcourse.viz` draws this data.
"""

from __future__ import annotations

import difflib
from typing import NamedTuple

#: The eleven states, in the order a connection usually meets them.
STATES = (
    "CLOSED", "LISTEN", "SYN_SENT", "SYN_RECEIVED", "ESTABLISHED",
    "FIN_WAIT_1", "FIN_WAIT_2", "CLOSE_WAIT", "CLOSING", "LAST_ACK", "TIME_WAIT",
)

#: How the RFC's figure spells each state.
RFC_SPELLING = {state: state.replace("_", "-") for state in STATES}

#: What each state means, in a learner's words (after RFC 9293 section 3.3.2).
MEANING = {
    "CLOSED": "no connection at all (the RFC calls it fictional: no TCB exists)",
    "LISTEN": "waiting for a connection request (SYN) from any remote end",
    "SYN_SENT": "sent a SYN, waiting for the other end's SYN and ACK",
    "SYN_RECEIVED": "got a SYN and answered SYN,ACK; waiting for the ACK of it",
    "ESTABLISHED": "open: data flows both ways",
    "FIN_WAIT_1": "closed our side (FIN sent); waiting for its ACK or the peer's FIN",
    "FIN_WAIT_2": "our FIN is acknowledged; waiting for the peer's FIN",
    "CLOSE_WAIT": "the peer closed its side (FIN received); waiting for our program to close",
    "CLOSING": "both ends sent FIN at once; waiting for the ACK of ours",
    "LAST_ACK": "closed after the peer did; waiting for the ACK of our FIN",
    "TIME_WAIT": "done; lingering 2 MSL so stray segments die and a lost last ACK can be resent",
}


class Transition(NamedTuple):
    """One arrow of the figure: `source` goes to `target` on `event`, doing `action`.

    `action` is "" where the figure shows an "x" (nothing is sent). `note` is
    the number of the RFC's note that adds or qualifies the arrow (0: none).
    """

    source: str
    target: str
    event: str
    action: str = ""
    note: int = 0

    @property
    def label(self) -> str:
        """'event / action', the way the RFC stacks them above and below a line."""
        return f"{self.event} / {self.action}" if self.action else self.event


#: The three notes printed under RFC 9293's Figure 5, in the course's words (section 3.3.2).
NOTES = {
    1: "The step from SYN-RECEIVED back to LISTEN on a RST is taken only when SYN-RECEIVED was reached "
       "from LISTEN, by a passive open.",
    2: "The figure leaves out a step from FIN-WAIT-1 straight to TIME-WAIT, taken when a FIN arrives "
       "together with the ACK of our own FIN (drawn here dashed).",
    3: "A RST may be sent from any state, with a step to TIME-WAIT, and a RST that arrives moves any state "
       "to LISTEN or CLOSED; those arrows are left out so that the figure stays readable. (Linux, sending a "
       "RST for an abortive close, goes straight to CLOSED instead.)",
}

#: Every arrow of RFC 9293 Figure 5, plus the one its Note 2 adds.
TRANSITIONS = (
    # opening
    Transition("CLOSED", "LISTEN", "passive OPEN", "create TCB"),
    Transition("CLOSED", "SYN_SENT", "active OPEN", "create TCB, snd SYN"),
    Transition("LISTEN", "CLOSED", "CLOSE", "delete TCB"),
    Transition("LISTEN", "SYN_RECEIVED", "rcv SYN", "snd SYN,ACK"),
    Transition("LISTEN", "SYN_SENT", "SEND", "snd SYN"),
    Transition("SYN_SENT", "CLOSED", "CLOSE", "delete TCB"),
    Transition("SYN_SENT", "SYN_RECEIVED", "rcv SYN", "snd SYN,ACK"),
    Transition("SYN_SENT", "ESTABLISHED", "rcv SYN,ACK", "snd ACK"),
    # Note 1: only when SYN-RECEIVED was reached from LISTEN (a passive open).
    Transition("SYN_RECEIVED", "LISTEN", "rcv RST", "", note=1),
    Transition("SYN_RECEIVED", "ESTABLISHED", "rcv ACK of SYN"),
    Transition("SYN_RECEIVED", "FIN_WAIT_1", "CLOSE", "snd FIN"),
    # closing
    Transition("ESTABLISHED", "FIN_WAIT_1", "CLOSE", "snd FIN"),
    Transition("ESTABLISHED", "CLOSE_WAIT", "rcv FIN", "snd ACK"),
    Transition("FIN_WAIT_1", "FIN_WAIT_2", "rcv ACK of FIN"),
    Transition("FIN_WAIT_1", "CLOSING", "rcv FIN", "snd ACK"),
    Transition("FIN_WAIT_1", "TIME_WAIT", "rcv FIN + ACK of FIN", "snd ACK", note=2),
    Transition("FIN_WAIT_2", "TIME_WAIT", "rcv FIN", "snd ACK"),
    Transition("CLOSE_WAIT", "LAST_ACK", "CLOSE", "snd FIN"),
    Transition("CLOSING", "TIME_WAIT", "rcv ACK of FIN"),
    Transition("LAST_ACK", "CLOSED", "rcv ACK of FIN", "delete TCB"),
    Transition("TIME_WAIT", "CLOSED", "timeout = 2MSL", "delete TCB"),
)

#: The names the kernel uses (Linux include/net/tcp_states.h, as psutil and
#: `ss` print them) -> the RFC's state. "CLOSE" is the kernel's name for a
#: socket with no connection; psutil says "NONE" when a socket has no state,
#: and "DELETE_TCB" on Windows for a connection being torn down.
KERNEL_NAMES = {
    "LISTEN": "LISTEN",
    "SYN_SENT": "SYN_SENT",
    "SYN_RECV": "SYN_RECEIVED",
    "ESTABLISHED": "ESTABLISHED",
    "FIN_WAIT1": "FIN_WAIT_1",
    "FIN_WAIT2": "FIN_WAIT_2",
    "TIME_WAIT": "TIME_WAIT",
    "CLOSE": "CLOSED",
    "CLOSE_WAIT": "CLOSE_WAIT",
    "LAST_ACK": "LAST_ACK",
    "CLOSING": "CLOSING",
    "NONE": "CLOSED",
    "DELETE_TCB": "CLOSED",
}

# Spellings seen in the RFC's ASCII art and in tools, accepted as well.
_ALIASES = {"ESTAB": "ESTABLISHED", "SYN_RCVD": "SYN_RECEIVED", "FINWAIT_1": "FIN_WAIT_1",
            "FINWAIT_2": "FIN_WAIT_2", "SYN_RECEIVE": "SYN_RECEIVED"}

# The synchronized states of RFC 9293 section 3.5.2: a RST received in any of
# them ends the connection (Note 3 of Figure 5).
_SYNCHRONIZED = ("ESTABLISHED", "FIN_WAIT_1", "FIN_WAIT_2", "CLOSE_WAIT", "CLOSING",
                 "LAST_ACK", "TIME_WAIT")


def rfc_name(name: str) -> str:
    """The RFC's state for `name`, which may be an RFC or a kernel spelling.

    'FIN_WAIT1', 'fin-wait-1' and 'FIN_WAIT_1' all give 'FIN_WAIT_1'.
    """
    if not isinstance(name, str):
        raise TypeError(
            f"A TCP state name must be a string such as 'ESTABLISHED', but got {name!r} "
            f"(type {type(name).__name__}); the valid names are {', '.join(STATES)}."
        )
    key = name.strip().upper().replace("-", "_").replace(" ", "_")
    if key in STATES:
        return key
    if key in KERNEL_NAMES:
        return KERNEL_NAMES[key]
    if key in _ALIASES:
        return _ALIASES[key]
    known = list(STATES) + [k for k in KERNEL_NAMES if k not in STATES]
    close = difflib.get_close_matches(key, known, n=1)
    hint = f"did you mean {close[0]!r}?" if close else "the kernel's spellings (FIN_WAIT1, SYN_RECV) work too."
    raise ValueError(
        f"{name!r} is not a TCP state; expected one of {', '.join(STATES)} "
        f"(or a kernel name: {', '.join(k for k in KERNEL_NAMES if k not in STATES)}); {hint}"
    )


def transitions_from(state: str) -> tuple[Transition, ...]:
    """The arrows that leave `state` (any spelling)."""
    state = rfc_name(state)
    return tuple(t for t in TRANSITIONS if t.source == state)


def is_transition(source: str, target: str, *, resets: bool = False) -> bool:
    """Whether one step from `source` to `target` is an arrow of the RFC's figure.

    Staying in the same state is not a step, so it is False. With
    `resets=True`, a step a RST causes (Note 3) counts as well: any
    synchronized state, SYN_SENT or SYN_RECEIVED to CLOSED.
    """
    source, target = rfc_name(source), rfc_name(target)
    if any(t.source == source and t.target == target for t in TRANSITIONS):
        return True
    if resets and target == "CLOSED":
        return source in _SYNCHRONIZED or source in ("SYN_SENT", "SYN_RECEIVED")
    return False


def is_path(*states: str, resets: bool = False) -> bool:
    """Whether the states follow one another by legal steps, e.g. a whole close."""
    names = [rfc_name(s) for s in states]
    return all(is_transition(a, b, resets=resets) for a, b in zip(names, names[1:]))
