"""Pictures of chapter 07's timing options: throughput against buffer size, and Nagle's stall.

`buffer_throughput` draws what a loopback stream carried for each buffer
size, beside the ceiling window / RTT that the same windows would allow
over a longer path: a line that is computed, not measured, and says so.
`nagle_latency` draws every round of the write-write-read experiment, one
row per way of writing, on a log axis of milliseconds.

Both take plain data (objects or dicts with the fields named below, or
lists of seconds), draw on the Axes they are given (`ax=`) and return it.
Artists the tests look for carry a `gid` such as "buffers:measured".
"""

from __future__ import annotations

import math
import numbers
import statistics

from matplotlib.ticker import FixedLocator, NullLocator

from ..core.errors import ArgumentError, ArgumentTypeError
from .style import PALETTE, new_axes

_MEASURED, _COMPUTED, _DEFAULT = PALETTE["blue"], PALETTE["vermillion"], PALETTE["bluish green"]

#: One colour and marker per row of the Nagle picture, in the order drawn (top to bottom).
ROW_STYLES = (
    {"color": PALETTE["vermillion"], "marker": "o"},
    {"color": PALETTE["blue"], "marker": "s"},
    {"color": PALETTE["bluish green"], "marker": "D"},
)


def _size_label(size: float) -> str:
    for unit, factor in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= factor:
            value = size / factor
            return f"{value:g} {unit}" if value == int(value) else f"{value:.1f} {unit}"
    return f"{size:g} B"


def _rate_label(rate: float) -> str:
    return f"{rate:,.0f}" if rate >= 1 else f"{rate:g}"


def _positive(value) -> bool:
    return (isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
            and value > 0)


def _field(point, name: str):
    if isinstance(point, dict):
        return point.get(name)
    return getattr(point, name, None)


def _decades(low: float, high: float, steps=(1,)) -> list[float]:
    first, last = math.floor(math.log10(low)), math.ceil(math.log10(high))
    return [s * 10.0 ** k for k in range(first, last + 1) for s in steps if low <= s * 10.0 ** k <= high]


# -- throughput against buffer size ----------------------------------------------------------
def _check_points(points) -> tuple[list[tuple[int, float, float]], float | None]:
    """(size, MB/s, window) for each set size, and the rate with buffers left alone (or None)."""
    rows = list(points) if isinstance(points, (list, tuple)) else None
    if not rows:
        raise ArgumentTypeError(f"Expected a non-empty list of measured points, as timing.buffer_throughput() "
                                f"returns, but got {points!r}; measure first, then draw what it returned.")
    sized, default = [], None
    for point in rows:
        size, rate, window = _field(point, "size"), _field(point, "mb_per_s"), _field(point, "window")
        if not _positive(rate):
            raise ArgumentError(f"Each point needs mb_per_s, a positive number, but {point!r} has {rate!r}; "
                                f"pass ThroughputPoint objects or their to_dict().")
        if size is None:
            default = float(rate)
            continue
        if not _positive(size):
            raise ArgumentError(f"Each point's size must be a positive number of bytes (or None for buffers left "
                                f"to the kernel), but {point!r} has {size!r}.")
        sized.append((size, float(rate), float(window) if _positive(window) else float(size)))
    if not sized:
        raise ArgumentError("The points hold no buffer size that was set, only the default; measure with at "
                            "least one size, for example timing.buffer_throughput([4096, 65536]).")
    return sorted(sized), default


def buffer_throughput(points, *, path_rtt: float = 0.020, ax=None, title=None):
    """MB/s measured on loopback for each buffer size (log x), and the computed ceiling window / path_rtt.

    points: what timing.buffer_throughput() returned (each with `size`,
    `mb_per_s` and, where the kernel told it, `window`, the largest receive
    window the sender saw); a point with size None is the run with buffers
    left to the kernel, drawn as a level line. path_rtt: the round-trip time
    of the path the dashed line is computed for, in seconds.
    """
    if not _positive(path_rtt) or path_rtt > 60:
        raise ArgumentError(f"path_rtt must be a round-trip time in seconds, above 0 and at most 60, but got "
                            f"{path_rtt!r}; for example path_rtt=0.020 for 20 ms.")
    sized, default = _check_points(points)
    ax = new_axes(ax, (8, 4.8))
    sizes = [s for s, _, _ in sized]
    rates = [r for _, r, _ in sized]
    computed = [w / path_rtt / 1e6 for _, _, w in sized]
    ax.plot(sizes, rates, color=_MEASURED, marker="o", linewidth=2.2, markersize=7, gid="buffers:measured",
            label="measured on loopback (round trip of microseconds)")
    for size, rate in zip(sizes, rates):
        ax.annotate(_rate_label(rate), (size, rate), textcoords="offset points", xytext=(0, 8), ha="center",
                    fontsize=8.5, color=_MEASURED, gid="buffers:rate")
    ms = path_rtt * 1000
    ax.plot(sizes, computed, color=_COMPUTED, marker="^", linestyle="--", linewidth=1.8, markersize=6,
            gid="buffers:computed",
            label=f"computed, not measured: window / {ms:g} ms round trip")
    if default is not None:
        ax.axhline(default, color=_DEFAULT, linestyle=":", linewidth=2, gid="buffers:default",
                   label=f"measured, buffers not set (autotuned): {_rate_label(default)} MB/s")
    ax.set_xscale("log")
    ax.set_yscale("log")
    low_x, high_x = min(sizes) / 1.6, max(sizes) * 1.6
    ax.set_xlim(low_x, high_x)
    ax.set_xticks(sizes, [_size_label(s) for s in sizes])
    ax.xaxis.set_minor_locator(NullLocator())
    values = rates + computed + ([default] if default is not None else [])
    low_y, high_y = min(values) / 2.5, max(values) * 3
    ax.set_ylim(low_y, high_y)
    ax.yaxis.set_major_locator(FixedLocator(_decades(low_y, high_y)))
    ax.yaxis.set_minor_locator(NullLocator())
    ax.yaxis.set_major_formatter(lambda value, _pos: _rate_label(value))
    ax.set_xlabel("SO_SNDBUF and SO_RCVBUF asked for at both ends (bytes, log scale)")
    ax.set_ylabel("throughput (MB/s, log scale)")
    ax.grid(True, which="major", color="0.9")
    ax.set_axisbelow(True)
    ax.legend(loc="lower right", fontsize=8.5, framealpha=0.95)
    ax.set_title(title or "Throughput against buffer size: measured here, and computed for a longer path",
                 fontsize=12)
    return ax


# -- Nagle meets the delayed ACK ---------------------------------------------------------------
def _check_samples(samples, what: str) -> list[float]:
    values = list(samples) if isinstance(samples, (list, tuple)) else None
    if not values:
        raise ArgumentTypeError(f"The {what} must be a non-empty list of seconds, as timing.write_write_read() "
                                f"returns, but got {samples!r}; measure some rounds first.")
    if not all(_positive(v) for v in values):
        bad = next(v for v in values if not _positive(v))
        raise ArgumentError(f"The {what} must all be positive numbers of seconds, but one is {bad!r}; "
                            f"pass the list timing.write_write_read() returned.")
    return [float(v) for v in values]


DEFAULT_LABELS = ("Nagle on (the default),\nheader and body in two send()s",
                  "TCP_NODELAY set,\nheader and body in two send()s",
                  "Nagle on,\nheader and body in one sendmsg()")


def nagle_latency(samples_off, samples_on, samples_joined=None, *, labels=None, delack_ms: float | None = 40.0,
                  ax=None, title=None):
    """Every round's time (seconds in, ms drawn on a log axis), one row per way of writing, median marked.

    samples_off: rounds with Nagle on (TCP_NODELAY off, the default);
    samples_on: with TCP_NODELAY set; samples_joined (optional): Nagle on,
    but header and body in one call. delack_ms draws a line at Linux's
    shortest delayed-ACK time (TCP_DELACK_MIN, 40 ms); None leaves it out.
    """
    rows = [_check_samples(samples_off, "samples_off"), _check_samples(samples_on, "samples_on")]
    if samples_joined is not None:
        rows.append(_check_samples(samples_joined, "samples_joined"))
    if labels is None:
        labels = DEFAULT_LABELS[: len(rows)]
    elif not isinstance(labels, (list, tuple)) or len(labels) != len(rows) \
            or not all(isinstance(label, str) for label in labels):
        raise ArgumentError(f"labels must be a list of {len(rows)} strings, one per row of samples, but got "
                            f"{labels!r}; or leave labels=None for the usual ones.")
    if delack_ms is not None and not _positive(delack_ms):
        raise ArgumentError(f"delack_ms must be a positive number of milliseconds or None, but got {delack_ms!r}; "
                            f"for example delack_ms=40.")
    ax = new_axes(ax, (9, 1.6 + 1.15 * len(rows)))
    millis = [[v * 1000 for v in row] for row in rows]
    everything = [v for row in millis for v in row] + ([delack_ms] if delack_ms else [])
    low, high = min(everything) / 2, max(everything) * 3
    for index, (row, label) in enumerate(zip(millis, labels)):
        y = len(rows) - 1 - index
        style = ROW_STYLES[index % len(ROW_STYLES)]
        # A fixed, even spread (no random numbers): the same data draws the same picture.
        spread = [y + 0.3 * (((j * 0.618034) % 1.0) - 0.5) for j in range(len(row))]
        ax.scatter(row, spread, s=26, color=style["color"], marker=style["marker"], alpha=0.7, linewidths=0,
                   gid=f"nagle:rounds:{index}", zorder=3)
        median = statistics.median(row)
        ax.plot([median, median], [y - 0.3, y + 0.3], color=PALETTE["black"], linewidth=2.5,
                gid=f"nagle:median:{index}", zorder=4)
        ax.annotate(f"median {median:.3g} ms", (median, y + 0.3), textcoords="offset points", xytext=(0, 3),
                    ha="center", va="bottom", fontsize=9, fontweight="bold", gid=f"nagle:median-text:{index}")
    if delack_ms:
        ax.axvline(delack_ms, color="0.35", linestyle="--", linewidth=1.2, gid="nagle:delack", zorder=2)
        ax.text(delack_ms * 0.93, -0.55, f"{delack_ms:g} ms: Linux's shortest\ndelayed ACK (TCP_DELACK_MIN)",
                ha="right", va="bottom", fontsize=8.5, color="0.25", gid="nagle:delack-text")
    ax.set_xscale("log")
    ax.set_xlim(low, high)
    ax.xaxis.set_major_locator(FixedLocator(_decades(low, high)))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_major_formatter(lambda value, _pos: f"{value:g}")
    ax.set_yticks(range(len(rows)), list(reversed(labels)))
    ax.set_ylim(-0.6, len(rows) - 0.3)
    ax.set_xlabel("time for one round: write, write, read the reply (ms, log scale)")
    ax.grid(True, axis="x", color="0.9")
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    counts = sorted({len(row) for row in rows})
    each = f"{counts[0]} rounds each" if len(counts) == 1 else f"{counts[0]} to {counts[-1]} rounds"
    ax.set_title(title or f"Nagle's algorithm meets the delayed ACK ({each})",
                 fontsize=12)
    return ax
