"""Chapter 07's picture of SO_REUSEPORT: how the kernel shared one port's connections among its listeners.

`reuseport_spread(counts)` draws the counts a measurement returned
(sockcourse.bench.options.restart.spread), a bar per listener, with the even
share marked, on the Axes it is given (`ax=`) and returns that Axes. Artists
the tests look for carry a `gid` such as "reuseport:bar".
"""

from __future__ import annotations

import numbers

from ..core.errors import ArgumentError
from .style import PALETTE, new_axes

#: One colour per listener, in the order they were bound: dark enough for white numbers on them.
LISTENER_COLOURS = (PALETTE["blue"], PALETTE["vermillion"], PALETTE["bluish green"], PALETTE["reddish purple"])


def _check_counts(counts, labels) -> tuple[list[int], list[str]]:
    example = "for example reuseport_spread(result.counts), with result = restart.spread([first, second])"
    if isinstance(counts, dict):
        labels = [str(key) for key in counts] if labels is None else labels
        counts = list(counts.values())
    if isinstance(counts, (str, bytes)) or not hasattr(counts, "__len__") or not counts:
        raise ArgumentError(f"Expected the connections each listener accepted, as a non-empty list of whole "
                         f"numbers, but got {counts!r}; {example}.")
    counts = list(counts)
    for count in counts:
        if isinstance(count, bool) or not isinstance(count, numbers.Integral) or count < 0:
            raise ArgumentError(f"Each count must be a whole number of connections (0 or more), but got {count!r} "
                             f"in {counts!r}; {example}.")
    if sum(counts) == 0:
        raise ArgumentError(f"The counts {counts!r} add up to 0 connections, so there is no share to draw; "
                         f"make some connections first ({example}).")
    if labels is None:
        labels = [f"listener {number}" for number in range(1, len(counts) + 1)]
    labels = [str(label) for label in labels]
    if len(labels) != len(counts):
        raise ArgumentError(f"There are {len(labels)} labels for {len(counts)} counts; give one label per listener, "
                         f"or leave labels=None.")
    return [int(count) for count in counts], labels


def reuseport_spread(counts, *, labels=None, ax=None, title=None):
    """A bar per listener: the connections it accepted, with its share, and the even share as a dashed line.

    counts: the connections each listener accepted, in the order the
        listeners were bound (a list), or a dict {label: count}.
    labels: a name for each bar; by default "listener 1", "listener 2", ...
    """
    counts, labels = _check_counts(counts, labels)
    total = sum(counts)
    even = total / len(counts)
    ax = new_axes(ax, (max(4.5, 1.6 * len(counts) + 2.5), 4.2))
    positions = range(len(counts))
    for index, count in enumerate(counts):
        colour = LISTENER_COLOURS[index % len(LISTENER_COLOURS)]
        ax.bar(index, count, width=0.6, color=colour, edgecolor=PALETTE["black"], linewidth=1, gid="reuseport:bar")
        # Inside the bar, so a bar close to the even share does not write over its line.
        ax.text(index, count / 2, f"{count:,}\n{100 * count / total:.0f} %", ha="center", va="center",
                fontsize=10, fontweight="bold", color="white", gid="reuseport:count")
    ax.axhline(even, color=PALETTE["black"], linestyle=(0, (5, 3)), linewidth=1.4, gid="reuseport:even")
    ax.text(len(counts) - 0.45, even, f"even share:\n{even:,.0f} each", ha="left", va="center", fontsize=9,
            bbox={"boxstyle": "round,pad=0.25", "facecolor": "white", "edgecolor": "none"},
            gid="reuseport:even-label")
    ax.set_xticks(list(positions), labels)
    ax.set_xlim(-0.6, len(counts) - 0.4 + 0.9)
    ax.set_ylim(0, max(max(counts), even) * 1.25)
    ax.set_xlabel("listening socket (all bound to the same port with SO_REUSEPORT)")
    ax.set_ylabel("connections accepted (count)")
    ax.grid(axis="y", color="0.9")
    ax.set_axisbelow(True)
    ax.set_title(title or f"SO_REUSEPORT: {total:,} connections over {len(counts)} listeners", fontsize=12)
    return ax
