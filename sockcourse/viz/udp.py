"""Pictures of chapter 02 (UDP): what a network did to numbered datagrams, update delays, datagram sizes,
and which socket the kernel gave each datagram to.

Every function draws on the Axes it is given (`ax=`) and returns it, or makes
a figure of a fitting size. The data are plain numbers the notebook measured:
sequence numbers in the order they arrived, (number, sent, arrived) times,
the largest payload a datagram could carry, and the fate of each datagram
in sockcourse.kernel.udplookup's experiment (which socket got it, what its
sender heard).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping

from matplotlib.lines import Line2D
from matplotlib.patches import FancyBboxPatch, Patch, Rectangle

from ..core.errors import ArgumentError, ArgumentTypeError
from .style import PALETTE, PLAIN_BOX, new_axes

#: How each arrival is classed, its colour and line style (a grey print still tells them apart).
FATES = {
    "in order": (PALETTE["blue"], "-"),
    "late (overtaken)": (PALETTE["orange"], "--"),
    "extra copy": (PALETTE["reddish purple"], (0, (1.5, 1.2))),
}
LOST = PALETTE["vermillion"]
#: The most datagrams datagram_fates() draws; more would be a blur of lines.
MAX_FATES = 200

# The 16-bit length fields: IPv4's Total Length counts its own header too
# (RFC 791), IPv6's Payload Length does not (RFC 8200).
_LENGTH_FIELD = 65_535
_UDP_HEADER = 8
_IP_HEADERS = {"IPv4": (20, True), "IPv6": (40, False)}  # bytes, counted in the length field?


# -- checks ------------------------------------------------------------------------------
def _whole(value, what: str, low: int, example: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ValueError(f"The {what} must be a whole number of {low} or more, but got {value!r}; "
                         f"for example {example}.")
    return int(value)


def _sequence(received, sent: int) -> list[int]:
    if isinstance(received, (str, bytes)) or not hasattr(received, "__iter__"):
        raise TypeError(f"Expected the sequence numbers in the order they arrived (a list of whole "
                        f"numbers), but got {received!r}; for example received=[0, 2, 1, 3].")
    seqs = list(received)
    for seq in seqs:
        if isinstance(seq, bool) or not isinstance(seq, numbers.Integral) or not 0 <= seq < sent:
            raise ValueError(f"Every received number must be one that was sent (0 to {sent - 1}), "
                             f"but the list holds {seq!r}; number the datagrams 0, 1, 2, ... as you send them.")
    return [int(seq) for seq in seqs]


def classify(received, sent: int) -> dict:
    """Sort each arrival into in order / late (overtaken) / extra copy, and list what never came.

    Returns {"fates": [fate of each arrival], "lost": [numbers never received]}.
    A datagram is late when a higher number arrived before it.
    """
    sent = _whole(sent, "number of datagrams sent", 1, "sent=40")
    seqs = _sequence(received, sent)
    seen, highest, fates = set(), -1, []
    for seq in seqs:
        if seq in seen:
            fates.append("extra copy")
        elif seq < highest:
            fates.append("late (overtaken)")
        else:
            fates.append("in order")
        seen.add(seq)
        highest = max(highest, seq)
    return {"fates": fates, "lost": [seq for seq in range(sent) if seq not in seen]}


# -- what the network did ------------------------------------------------------------------
def datagram_fates(received, sent, ax=None, title=None):
    """Draw numbered datagrams as sent (top row) and as they arrived (bottom row), joined by lines.

    received: the numbers in the order they arrived (duplicates and gaps included).
    sent: how many were sent, numbered 0 .. sent-1.
    Crossing lines are reordering, two lines from one box a duplicate, a red box
    with no line a loss.
    """
    sent = _whole(sent, "number of datagrams sent", 1, "sent=40")
    if sent > MAX_FATES:
        raise ValueError(f"datagram_fates() draws at most {MAX_FATES} datagrams, but sent={sent}; "
                         f"draw the first ones, for example sent={MAX_FATES} with received[:...].")
    seqs = _sequence(received, sent)
    sorted_out = classify(seqs, sent)
    width = max(sent, len(seqs), 1)
    ax = new_axes(ax, (min(16.0, max(7.0, 0.22 * width + 2.0)), 3.0))
    box = 0.72
    label_size = 7 if width <= 45 else 5.5 if width <= 80 else 0

    for seq in range(sent):
        lost = seq in sorted_out["lost"]
        ax.add_patch(Rectangle((seq - box / 2, 0.82), box, 0.36, facecolor=LOST if lost else "#E8E8E8",
                               edgecolor="0.35", linewidth=0.6, gid=f"sent:{seq}"))
        if label_size:
            ax.text(seq, 1.0, str(seq), ha="center", va="center", fontsize=label_size,
                    color="white" if lost else "0.15", fontweight="bold" if lost else "normal")
    counts = dict.fromkeys(FATES, 0)
    for slot, (seq, fate) in enumerate(zip(seqs, sorted_out["fates"])):
        colour, style = FATES[fate]
        counts[fate] += 1
        ax.plot([seq, slot], [0.82, 0.18], color=colour, linestyle=style,
                linewidth=1.3 if fate == "in order" else 2.0, gid=f"fate:{fate}")
        ax.add_patch(Rectangle((slot - box / 2, -0.18), box, 0.36, facecolor=colour, edgecolor="0.35",
                               linewidth=0.6, alpha=0.85, gid=f"received:{slot}"))
        if label_size:
            ax.text(slot, 0.0, str(seq), ha="center", va="center", fontsize=label_size, color="white",
                    fontweight="bold")

    ax.set_xlim(-1.0, width)
    ax.set_ylim(-0.45, 1.45)
    ax.set_yticks([0.0, 1.0], ["arrived", "sent"])
    ax.tick_params(axis="y", length=0, labelsize=10)
    ax.set_xticks([])  # the boxes carry their numbers
    ax.set_xlabel("top: in the order sent; bottom: in the order received; a line joins each copy to its original")
    for spine in ax.spines.values():
        spine.set_visible(False)
    handles = [Line2D([], [], color=FATES[f][0], linestyle=FATES[f][1], linewidth=2,
                      label=f"{f} ({counts[f]})") for f in FATES]
    handles.append(Patch(facecolor=LOST, edgecolor="0.35", label=f"lost, never arrived ({len(sorted_out['lost'])})"))
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.18), ncols=4, frameon=False,
              fontsize=9)
    ax.set_title(title or f"{sent} numbered datagrams: {len(seqs)} arrivals", fontsize=12)
    return ax


# -- the game ----------------------------------------------------------------------------
def _runs(runs) -> dict:
    if not isinstance(runs, Mapping) or not runs:
        raise TypeError(f"Expected a dict of runs such as {{'UDP': [(seq, sent, arrived), ...]}}, "
                        f"but got {runs!r}; pass one list of (number, sent time, arrival time) per protocol.")
    checked = {}
    for label, rows in runs.items():
        rows = list(rows)
        for row in rows:
            if (not isinstance(row, (tuple, list)) or len(row) != 3
                    or not all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in row)):
                raise ValueError(f"Each arrival of {label!r} must be (number, sent time, arrival time) "
                                 f"in seconds, but one is {row!r}; record time.monotonic() on both sides.")
        checked[str(label)] = sorted((int(s), float(t0), float(t1)) for s, t0, t1 in rows)
    return checked


#: Updates that reach the receiver within this many seconds of each other arrived "at once".
BURST_WINDOW = 0.005
#: A burst is marked when at least this many updates arrived at once.
BURST_MIN = 3


def bursts(rows, window: float = BURST_WINDOW, least: int = BURST_MIN) -> list[tuple[int, int]]:
    """Runs of consecutive update numbers that arrived at once: [(first, last), ...].

    rows: [(number, sent, arrived), ...]. "At once" means within `window`
    seconds of the first of the run, as when one recv() returns them all.
    """
    found, run = [], []
    for seq, _, arrived in sorted(rows):
        if run and seq == run[-1][0] + 1 and arrived - run[0][1] <= window:
            run.append((seq, arrived))
            continue
        if len(run) >= least:
            found.append((run[0][0], run[-1][0]))
        run = [(seq, arrived)]
    if len(run) >= least:
        found.append((run[0][0], run[-1][0]))
    return found


def _repairs(repairs, checked: dict, link_delay) -> dict:
    if repairs is None:
        return {}
    if not isinstance(repairs, Mapping):
        raise TypeError(f"Expected repairs as a dict {{label: seconds}}, such as {{'TCP': 0.2}}, but got "
                        f"{repairs!r}; give the wait the link played before a lost piece was sent again.")
    if link_delay is None:
        raise ValueError("A repair wait is drawn above the link's delay, but link_delay was not given; "
                         "pass link_delay=0.02 (seconds) as well.")
    waits = {}
    for label, wait in repairs.items():
        if str(label) not in checked:
            raise ValueError(f"The repair for {label!r} names no run; the runs are {sorted(checked)}, "
                             f"so use one of those labels.")
        if isinstance(wait, bool) or not isinstance(wait, numbers.Real) or not 0 < wait < 60:
            raise ValueError(f"The repair wait of {label!r} must be a number of seconds above 0 and below 60, "
                             f"but got {wait!r}; for example 0.2 for a 200 ms retransmission timeout.")
        waits[str(label)] = float(wait)
    return waits


def update_delays(runs, count, ax=None, title=None, rate=None, link_delay=None, repairs=None):
    """Plot how long each numbered update took from send to arrival, one series per protocol.

    runs: {label: [(number, sent, arrived), ...]} with times in seconds, e.g.
        {"UDP": ..., "TCP": ...}. Updates numbered below `count` that never
        arrived are marked with an x on the "lost" row under the plot, and runs
        of updates that arrived at once (see `bursts`) are shaded and counted.
    rate: updates per second, named on the x axis; link_delay: the link's one-way
        delay in seconds, drawn as a dashed line (the best any update can do).
    repairs: {label: seconds} for runs whose repair the link *played* (a TCP
        link re-sends a lost piece after a fixed wait): a dotted line in the
        run's colour at link_delay + wait marks where a repaired update lands,
        and its legend entry says that the wait was played, not measured.
    """
    count = _whole(count, "number of updates sent", 1, "count=60")
    checked = _runs(runs)
    waits = _repairs(repairs, checked, link_delay)
    ax = new_axes(ax, (10.0, 4.8))
    colours = (PALETTE["blue"], PALETTE["vermillion"], PALETTE["bluish green"], PALETTE["reddish purple"])
    markers = ("o", "s", "^", "D")
    top = max((1000 * (t1 - t0) for rows in checked.values() for _, t0, t1 in rows), default=1.0)
    top = max([top, 1.0] + [1000 * (link_delay + wait) * 1.05 for wait in waits.values()])
    lost_row = -0.09 * top
    for k, (label, rows) in enumerate(checked.items()):
        colour, marker = colours[k % len(colours)], markers[k % len(markers)]
        first = {}
        for seq, t0, t1 in rows:
            first.setdefault(seq, 1000 * (t1 - t0))  # a duplicate's second copy is not a new update
        # NaN breaks the line where an update is missing, so a gap shows as a gap.
        ys = [first.get(seq, math.nan) for seq in range(count)]
        # The first series is drawn on top, so where both sit on the link's delay it stays visible.
        z = 3 + len(checked) - k
        ax.plot(range(count), ys, color=colour, marker=marker, markersize=5 if k == 0 else 4, linewidth=1.0,
                label=f"{label}: {len(first)} of {count} arrived", gid=f"delays:{label}", zorder=z)
        for low, high in bursts([row for row in rows if row[0] < count]):
            ax.axvspan(low - 0.4, high + 0.4, color=colour, alpha=0.12, linewidth=0, gid=f"burst:{label}")
            peak = max(first[seq] for seq in range(low, high + 1))
            ax.text((low + high) / 2, peak + 0.03 * top, f"{high - low + 1} at once", ha="center",
                    va="bottom", fontsize=8, color=colour)
        if label in waits:
            expected = 1000 * (link_delay + waits[label])
            ax.axhline(expected, color=colour, linestyle=":", linewidth=1.4, gid=f"repair:{label}",
                       label=f"{label}: lost piece re-sent after {1000 * waits[label]:.0f} ms (played by the link)")
        missing = [seq for seq in range(count) if seq not in first]
        if missing:
            # Offset a little per series, so two protocols' losses at one number stay visible.
            ax.plot(missing, [lost_row * (1 + 0.35 * k)] * len(missing), linestyle="none", marker="x",
                    markersize=8, markeredgewidth=2, color=colour, label=f"{label}: lost ({len(missing)})",
                    gid=f"lost:{label}", zorder=z)
    if link_delay is not None:
        ax.axhline(1000 * link_delay, color="0.4", linestyle="--", linewidth=1,
                   label=f"the link's delay ({1000 * link_delay:.0f} ms)")
    ax.axhline(0, color="0.6", linewidth=0.8)
    ax.set_ylim(lost_row * 2.1, top * 1.15)
    ax.text(-0.01, lost_row * 1.2, "lost", transform=ax.get_yaxis_transform(), ha="right", va="center",
            fontsize=9, color="0.3")
    ax.set_xlim(-1, count)
    ax.set_xlabel("update number" + (f" ({rate:g} updates per second)" if rate else ""))
    ax.set_ylabel("delay from send to arrival (ms)")
    ax.grid(axis="y", color="0.9")
    handles = ax.get_legend_handles_labels()[0]
    if any((p.get_gid() or "").startswith("burst:") for p in ax.patches):
        handles.append(Patch(facecolor="0.5", alpha=0.25, label="shaded: arrived together"))
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=9)
    ax.set_title(title or "How late each update arrived", fontsize=12)
    return ax


# -- sizes -------------------------------------------------------------------------------
def datagram_layout(largest, ax=None, title=None):
    """Draw the headers and the largest payload of a UDP datagram over IPv4 and IPv6 (not to scale).

    largest: {"IPv4": bytes, "IPv6": bytes}, the largest payload measured on
    this machine (either key may be left out). A brace shows what the 16-bit
    length field of the IP header counts, which is where the limit comes from.
    """
    if not isinstance(largest, Mapping) or not largest:
        raise TypeError(f"Expected {{'IPv4': bytes, 'IPv6': bytes}}, but got {largest!r}; pass the largest "
                        f"payload you could send, for example {{'IPv4': 65507}}.")
    for key, value in largest.items():
        if key not in _IP_HEADERS:
            raise ValueError(f"datagram_layout() knows 'IPv4' and 'IPv6', but got the key {key!r}; "
                             f"for example {{'IPv4': 65507}}.")
        _whole(value, f"largest {key} payload", 0, f"{{'{key}': 65507}}")
    ax = new_axes(ax, (10.0, 1.9 + 1.5 * len(largest)))
    widths = {"ip": 2.2, "udp": 1.6, "data": 6.0}
    for row, (family, measured) in enumerate(largest.items()):
        y = -1.6 * row
        header, counted = _IP_HEADERS[family]
        limit = _LENGTH_FIELD - _UDP_HEADER - (header if counted else 0)
        arithmetic = f"{_LENGTH_FIELD:,} − {header} − {_UDP_HEADER}" if counted else f"{_LENGTH_FIELD:,} − {_UDP_HEADER}"
        x = 0.0
        parts = [("ip", f"{family} header\n{header} B", "#D9D9D9"),
                 ("udp", f"UDP header\n{_UDP_HEADER} B", PALETTE["sky blue"]),
                 ("data", f"payload: at most {arithmetic} = {limit:,} B\nlargest sent here: {measured:,} B",
                  PALETTE["bluish green"])]
        starts = {}
        for key, text, colour in parts:
            starts[key] = x
            ax.add_patch(FancyBboxPatch((x + 0.04, y), widths[key] - 0.08, 0.8, boxstyle="round,pad=0.02",
                                        facecolor=colour, edgecolor="0.3", gid=f"layout:{family}:{key}"))
            ax.text(x + widths[key] / 2, y + 0.4, text, ha="center", va="center", fontsize=9.5,
                    color="black")
            x += widths[key]
        # The bracket spans what the length field counts.
        left = starts["ip"] if counted else starts["udp"]
        field = "Total Length" if counted else "Payload Length"
        ax.annotate("", xy=(x, y + 0.98), xytext=(left, y + 0.98),
                    arrowprops=dict(arrowstyle="<->", color="0.2", linewidth=1.2))
        ax.text((left + x) / 2, y + 1.08, f"{field} (16 bits) counts this: at most {_LENGTH_FIELD:,} B",
                ha="center", va="bottom", fontsize=9, color="0.2")
        ax.text(-0.2, y + 0.4, family, ha="right", va="center", fontsize=11, fontweight="bold")
    ax.set_xlim(-1.2, sum(widths.values()) + 0.2)
    ax.set_ylim(-1.6 * (len(largest) - 1) - 0.3, 1.5)
    ax.set_axis_off()
    ax.set_title(title or "Why a UDP datagram carries at most 65,507 bytes over IPv4 (boxes not to scale)",
                 fontsize=12)
    return ax


# -- the kernel's lookup ------------------------------------------------------------------
#: The most datagrams udp_lookup() draws, one row each.
MAX_LOOKUP_ROWS = 12
#: The most senders, and receiving sockets, one lane each.
MAX_LOOKUP_LANES = 4
#: Lane colours of the receiving sockets, in the order the result lists them.
RECEIVER_COLOURS = (PALETTE["blue"], PALETTE["bluish green"], PALETTE["orange"], PALETTE["sky blue"])
DROPPED = PALETTE["vermillion"]
ICMP = PALETTE["reddish purple"]

_LOOKUP_HINT = "pass what sockcourse.kernel.udplookup.run() returned"


def _lookup_refuse(problem: str, wrong_type: bool = False):
    raise (ArgumentTypeError if wrong_type else ArgumentError)(f"{problem}; {_LOOKUP_HINT}.")


def _lookup_data(result) -> dict:
    """The result as checked plain data; each problem refused with one sentence."""
    data = result.as_dict() if callable(getattr(result, "as_dict", None)) else result
    if not isinstance(data, Mapping):
        _lookup_refuse(f"udp_lookup() draws a lookup result (a dict with port, receivers, senders and datagrams), "
                       f"but got {result!r}", wrong_type=True)
    missing = [key for key in ("port", "receivers", "senders", "datagrams") if key not in data]
    if missing:
        _lookup_refuse(f"The lookup result lacks {', '.join(map(repr, missing))}")
    port = data["port"]
    if isinstance(port, bool) or not isinstance(port, numbers.Integral) or not 1 <= port <= 65_535:
        _lookup_refuse(f"The result's port must be a whole number from 1 to 65535, but it is {port!r}")
    receivers, senders = data["receivers"], data["senders"]
    for what, group in (("receivers", receivers), ("senders", senders)):
        if not isinstance(group, Mapping) or not 1 <= len(group) <= MAX_LOOKUP_LANES \
                or not all(isinstance(name, str) and name for name in group):
            _lookup_refuse(f"The result's {what} must be a dict of 1 to {MAX_LOOKUP_LANES} names, "
                           f"but they are {group!r}")
    for name, info in senders.items():
        if not isinstance(info, Mapping) or not isinstance(info.get("connected"), bool) \
                or not isinstance(info.get("recverr", False), bool):
            _lookup_refuse(f"Sender {name!r} must be described as {{'connected': True or False, 'recverr': "
                           f"True or False}}, but it is {info!r}")
    for name, peer in receivers.items():
        if peer is not None and peer not in senders:
            _lookup_refuse(f"Receiver {name!r} is connected to {peer!r}, which is none of the senders "
                           f"{sorted(senders)}")
    rows = data["datagrams"]
    if isinstance(rows, (str, bytes, Mapping)) or not hasattr(rows, "__iter__"):
        _lookup_refuse(f"The result's datagrams must be a list, but they are {rows!r}", wrong_type=True)
    rows = list(rows)
    if not 1 <= len(rows) <= MAX_LOOKUP_ROWS:
        _lookup_refuse(f"udp_lookup() draws 1 to {MAX_LOOKUP_ROWS} datagrams, but the result has {len(rows)}")
    checked = []
    for row in rows:
        if not isinstance(row, Mapping):
            _lookup_refuse(f"Each datagram must be a dict, but one is {row!r}", wrong_type=True)
        number, sender, got = row.get("number"), row.get("sender"), row.get("received_by")
        label = f"Datagram {number!r}"
        if isinstance(number, bool) or not isinstance(number, numbers.Integral):
            _lookup_refuse(f"Each datagram needs a whole number, but one has number={number!r}")
        if sender not in senders:
            _lookup_refuse(f"{label} was sent by {sender!r}, which is none of the senders {sorted(senders)}")
        opened = row.get("open")
        if isinstance(opened, (str, bytes)) or not hasattr(opened, "__iter__") \
                or not set(opened) <= set(receivers):
            _lookup_refuse(f"{label} lists the sockets open when it was sent as {opened!r}, but they must be "
                           f"some of the receivers {sorted(receivers)}")
        opened = [name for name in receivers if name in set(opened)]
        if got is not None and got not in opened:
            _lookup_refuse(f"{label} was received by {got!r}, which was not open then (open: {opened})")
        saw, icmp = row.get("sender_saw"), row.get("icmp_sent")
        if saw is not None and not (isinstance(saw, str) and saw):
            _lookup_refuse(f"{label}: what the sender saw must be an errno name such as 'ECONNREFUSED' or None, "
                           f"but it is {saw!r}")
        if got is not None and saw is not None:
            _lookup_refuse(f"{label} was received by {got!r}, yet its sender saw {saw}; a datagram that found "
                           f"a socket causes no ICMP error")
        if icmp is not None and (isinstance(icmp, bool) or not isinstance(icmp, numbers.Integral) or icmp < 0):
            _lookup_refuse(f"{label}: icmp_sent must be a count of 0 or more, or None, but it is {icmp!r}")
        checked.append({"number": int(number), "sender": sender, "open": opened, "received_by": got,
                        "sender_saw": saw, "icmp_sent": None if icmp is None else int(icmp)})
    if len({row["number"] for row in checked}) != len(checked):
        _lookup_refuse(f"Each datagram must have its own number, but the numbers are "
                       f"{[row['number'] for row in checked]}")
    return {"port": int(port), "receivers": dict(receivers), "senders": {k: dict(v) for k, v in senders.items()},
            "datagrams": checked}


def _lookup_reason(row: dict, receivers: dict) -> str:
    """Why the datagram ended where it did, in the kernel's terms (read from the data, not assumed)."""
    sender, got = row["sender"], row["received_by"]
    passed_over = [name for name in row["open"] if receivers[name] not in (None, sender)]
    if got is not None and receivers[got] == sender:
        rivals = [name for name in row["open"] if name != got and receivers[name] is None]
        return f"from the {got} socket's peer:\nthe {got} socket " + ("wins" if rivals else "takes it")
    if got is not None:
        if passed_over:
            return f"not from the {passed_over[0]} socket's peer:\nthe {got} socket takes it"
        return f"the {got} socket takes it"
    if passed_over:
        return f"not from the {passed_over[0]} socket's peer,\nand no other socket: dropped"
    return "no socket on the port:\ndropped"


def udp_lookup(result, ax=None, title=None):
    """Draw which socket the kernel gave each datagram to, and where each ICMP error went.

    result: what sockcourse.kernel.udplookup.run() returned (or its
    as_dict()). Time runs down the page, one row per datagram. Senders are
    lanes on the left, the port's receiving sockets lanes on the right (a lane
    ends where its socket was closed), and a last lane stands for "no socket":
    a datagram's arrow ends at the socket whose recv() returned it, or at a
    cross there. A dashed arrow back to the sender is the ICMP port
    unreachable the kernel sent (its count of them rose), ending in a filled
    dot where the sender's recv() then raised an error, or a hollow one where
    the sender was told nothing.
    """
    data = _lookup_data(result)
    receivers, senders, rows = data["receivers"], data["senders"], data["datagrams"]
    pitch = 1.3  # rows apart: the reason above each arrow, the ICMP error and its labels below
    ax = new_axes(ax, (12.0, 2.4 + 1.1 * len(rows)))
    x_of = {name: 1.75 * k for k, name in enumerate(senders)}
    first_socket = max(x_of.values()) + 4.4
    colour_of = {}
    for k, name in enumerate(receivers):
        x_of[name] = first_socket + 1.9 * k
        colour_of[name] = RECEIVER_COLOURS[k % len(RECEIVER_COLOURS)]
    x_drop = first_socket + 1.9 * len(receivers)
    gap = (max(x_of[name] for name in senders) + first_socket) / 2  # where the reasons are written
    y_of = [-pitch * (i + 0.85) for i in range(len(rows))]
    bottom = y_of[-1] - 0.85

    def header(x, text, colour, gid):
        ax.text(x, 0.55, text, ha="center", va="center", fontsize=9, gid=gid,
                bbox=dict(boxstyle="round,pad=0.35", facecolor=colour, edgecolor="0.35", linewidth=0.8))

    for name, info in senders.items():
        how = "connected" if info["connected"] else "not connected"
        header(x_of[name], f"{name}\n{how}" + ("\n+ IP_RECVERR" if info.get("recverr") else ""), PLAIN_BOX,
               f"lookup:sender:{name}")
        ax.plot([x_of[name]] * 2, [0.1, bottom], color="0.55", linestyle=(0, (2, 2)), linewidth=1,
                gid=f"lookup:lane:{name}", zorder=1)
    for name, peer in receivers.items():
        header(x_of[name], f"{name} socket\n" + (f"connected to {peer}" if peer else "takes anyone's"),
               "white", f"lookup:receiver:{name}")
        open_rows = [i for i, row in enumerate(rows) if name in row["open"]]
        if open_rows:
            top = 0.1 if open_rows[0] == 0 else y_of[open_rows[0]] + pitch / 2
            end = y_of[open_rows[-1]] - pitch / 2 if open_rows[-1] < len(rows) - 1 else bottom
            ax.plot([x_of[name]] * 2, [top, end], color=colour_of[name], linewidth=3, solid_capstyle="butt",
                    gid=f"lookup:lane:{name}", zorder=1)
        for i in range(1, len(rows)):
            if name in rows[i - 1]["open"] and name not in rows[i]["open"]:
                mark = y_of[i] + pitch / 2
                ax.plot([x_of[name]], [mark], marker="_", markersize=16, markeredgewidth=3, color=colour_of[name])
                ax.text(x_of[name] + 0.15, mark, "close()", ha="left", va="center", fontsize=8.5, color="0.2",
                        gid=f"lookup:closed:{name}")
    header(x_drop, "no socket\n(dropped)", "#FBE3D6", "lookup:receiver:dropped")
    ax.plot([x_drop] * 2, [0.1, bottom], color=DROPPED, linestyle=(0, (1, 2)), linewidth=1, zorder=1)
    shared = [x_of[name] for name in receivers]
    ax.annotate("", xy=(max(shared) + 0.7, 1.2), xytext=(min(shared) - 0.7, 1.2),
                arrowprops=dict(arrowstyle="-", color="0.3", linewidth=1.2))
    ax.text(sum(shared) / len(shared), 1.28, f"{len(receivers)} sockets bound to 127.0.0.1, port {data['port']}",
            ha="center", va="bottom", fontsize=9.5, color="0.2", gid="lookup:port")

    white = dict(boxstyle="round,pad=0.1", facecolor="white", edgecolor="none", alpha=0.9)
    for y, row in zip(y_of, rows):
        start, got = x_of[row["sender"]], row["received_by"]
        end = x_of[got] if got else x_drop
        colour = colour_of[got] if got else DROPPED
        ax.annotate("", xy=(end, y), xytext=(start, y), gid=f"lookup:datagram:{row['number']}", zorder=3,
                    arrowprops=dict(arrowstyle="-|>", color=colour, linewidth=1.8, shrinkA=0, shrinkB=4))
        ax.text(-0.6, y, str(row["number"]), ha="center", va="center", fontsize=10, fontweight="bold",
                color="0.25")
        ax.text(gap, y + 0.08, _lookup_reason(row, receivers), ha="center", va="bottom", fontsize=8.5,
                color="0.15", gid=f"lookup:reason:{row['number']}", bbox=white)
        if got is None:
            ax.plot([x_drop], [y], marker="X", markersize=11, color=DROPPED, linestyle="none",
                    gid=f"lookup:dropped:{row['number']}", zorder=4)
        if got is not None or (row["sender_saw"] is None and not row["icmp_sent"]):
            continue  # no ICMP error came of this datagram (none was counted or reported)
        back = y - 0.48
        ax.annotate("", xy=(start, back), xytext=(x_drop, back), gid=f"lookup:icmp:{row['number']}", zorder=3,
                    arrowprops=dict(arrowstyle="-|>", color=ICMP, linewidth=1.4, linestyle=(0, (4, 2)),
                                    shrinkA=6, shrinkB=5))
        ax.text(x_drop - 0.35, back + 0.05, "ICMP port unreachable", ha="right", va="bottom", fontsize=8,
                color=ICMP, bbox=white)
        reported = row["sender_saw"] is not None
        ax.plot([start], [back], marker="o", markersize=8, linestyle="none", zorder=4,
                color=ICMP, markerfacecolor=ICMP if reported else "white", markeredgewidth=1.6,
                gid=f"lookup:{'reported' if reported else 'unreported'}:{row['number']}")
        ax.text(start + 0.16, back - 0.07, f"recv(): {row['sender_saw']}" if reported else "not reported",
                ha="left", va="top", fontsize=8.5, color=ICMP if reported else "0.3",
                fontweight="bold" if reported else "normal", gid=f"lookup:saw:{row['number']}")

    ax.text(-0.6, 0.0, "datagram", ha="center", va="center", fontsize=9, color="0.25")
    ax.annotate("", xy=(-1.4, bottom + 0.2), xytext=(-1.4, -0.4),
                arrowprops=dict(arrowstyle="-|>", color="0.5", linewidth=1))
    ax.text(-1.52, (bottom - 0.2) / 2, "time", rotation=90, ha="right", va="center", fontsize=9, color="0.4")
    ax.set_xlim(-2.0, x_drop + 1.0)
    ax.set_ylim(bottom - 0.1, 1.75)
    ax.set_axis_off()
    handles = [Line2D([], [], color="0.3", linewidth=1.8, label="a datagram, to the socket that got it"),
               Line2D([], [], color=DROPPED, marker="X", linestyle="none", markersize=9,
                      label="no socket took it: dropped"),
               Line2D([], [], color=ICMP, linestyle=(0, (4, 2)), linewidth=1.4,
                      label="ICMP port unreachable, back to the sender"),
               Line2D([], [], color=ICMP, marker="o", linestyle="none", markersize=7,
                      label="reported: the sender's recv() raised it"),
               Line2D([], [], color=ICMP, marker="o", markerfacecolor="white", linestyle="none", markersize=7,
                      label="not reported to the sender")]
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncols=3, frameon=False, fontsize=9)
    ax.set_title(title or "Which UDP socket gets each datagram, and who hears about the ICMP error", fontsize=12)
    return ax
