"""Pictures of chapter 02 (UDP): what a network did to numbered datagrams, update delays, datagram sizes.

Every function draws on the Axes it is given (`ax=`) and returns it, or makes
a figure of a fitting size. The data are plain numbers the notebook measured:
sequence numbers in the order they arrived, (number, sent, arrived) times,
the largest payload a datagram could carry.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping

from matplotlib.lines import Line2D
from matplotlib.patches import FancyBboxPatch, Patch, Rectangle

from .style import PALETTE, new_axes

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
