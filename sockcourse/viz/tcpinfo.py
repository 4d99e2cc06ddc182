"""Pictures of chapter 07's TCP_INFO: the congestion window and the retransmissions while the cable is out.

`tcp_info_timeline` draws what `sockcourse.bench.options.vanish.dark_path()`
measured (its `to_dict()`, or the list of samples): the sender's congestion
window over time, the retransmitted segments on a second axis, the stretch
without a cable shaded, and a mark at every retransmission timeout. Artists
the tests look for carry a `gid` such as "tcpinfo:cwnd".
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from .style import PALETTE, new_axes
from ..core.errors import ArgumentError, ArgumentTypeError

_NEEDED = ("t", "cwnd", "total_retrans")
_CWND, _RETRANS, _TIMEOUT, _DARK = PALETTE["blue"], PALETTE["vermillion"], PALETTE["reddish purple"], "0.85"


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _check_series(series, dark):
    if isinstance(series, Mapping):
        if "samples" not in series:
            raise ArgumentTypeError(f"Expected the dict of a dark-path run (with 'samples'), but got the keys "
                                    f"{sorted(series)!r}; pass vanish.dark_path().to_dict().")
        if dark is None and "dark_from" in series and "dark_until" in series:
            dark = (series["dark_from"], series["dark_until"])
        series = series["samples"]
    if isinstance(series, (str, bytes)) or not isinstance(series, Sequence) or not series:
        raise ArgumentTypeError(f"Expected a non-empty list of TCP_INFO samples (dicts with {', '.join(_NEEDED)}), "
                                f"but got {series!r}; pass vanish.dark_path().to_dict().")
    rows = []
    for number, row in enumerate(series):
        if not isinstance(row, Mapping) or not all(_is_number(row.get(key)) for key in _NEEDED):
            raise ArgumentError(f"Sample #{number} must be a dict with the numbers {', '.join(_NEEDED)}, but is "
                                f"{row!r}; pass the samples exactly as dark_path() returned them.")
        rows.append(row)
    if any(b["t"] < a["t"] for a, b in zip(rows, rows[1:])):
        raise ArgumentError("The samples' times must not go backwards; pass them in the order they were taken.")
    if dark is not None:
        if not (isinstance(dark, Sequence) and len(dark) == 2 and all(_is_number(v) for v in dark)
                and dark[0] < dark[1]):
            raise ArgumentError(f"The dark interval must be a pair (start, end) of seconds with start < end, but "
                                f"got {dark!r}; for example dark=(0.3, 1.3).")
        dark = (float(dark[0]), float(dark[1]))
    return rows, dark


def _moving_again(rows, dark) -> float | None:
    """The first sample after the dark interval at which more bytes were acknowledged, if the data says."""
    if dark is None or not all(_is_number(row.get("bytes_acked")) for row in rows):
        return None
    last = None
    for row in rows:
        if row["t"] < dark[1]:
            last = row["bytes_acked"]
        elif last is not None and row["bytes_acked"] > last:
            return row["t"]
    return None


def tcp_info_timeline(series, dark=None, *, ax=None, title=None):
    """The sender's congestion window (segments) over time, its retransmissions, and the dark interval.

    series: a dark-path run's `to_dict()` (its dark interval is then taken
    from it), or a list of sample dicts with at least t (s), cwnd (segments)
    and total_retrans (segments); `retransmits` and `rto_ms`, where present,
    mark each retransmission timeout, and `bytes_acked` the moment the
    transfer moves again after the dark interval. dark: (start, end) in seconds, shaded.
    Returns the Axes of the congestion window; the retransmissions are on
    its twin, `ax.right_axis`.
    """
    rows, dark = _check_series(series, dark)
    ax = new_axes(ax, (10, 4.6))
    times = [row["t"] for row in rows]
    cwnd = [row["cwnd"] for row in rows]
    retrans = [row["total_retrans"] for row in rows]
    top = max(cwnd) * 1.35 + 1

    if dark is not None:
        ax.axvspan(dark[0], dark[1], facecolor=_DARK, edgecolor="none", zorder=0, gid="tcpinfo:dark")
        ax.text((dark[0] + dark[1]) / 2, top * 0.97, "lo down: the cable is pulled\n(every packet is lost)",
                ha="center", va="top", fontsize=9, color="0.2", gid="tcpinfo:dark-label")
    ax.step(times, cwnd, where="post", color=_CWND, linewidth=2, label="congestion window (tcpi_snd_cwnd)",
            gid="tcpinfo:cwnd")

    right = ax.twinx()
    right.step(times, retrans, where="post", color=_RETRANS, linewidth=1.8, linestyle=(0, (5, 2)),
               label="segments retransmitted so far (tcpi_total_retrans)", gid="tcpinfo:retrans")
    right.set_ylabel("segments retransmitted (total)", color=_RETRANS)
    right.tick_params(axis="y", colors=_RETRANS)
    right.set_ylim(0, max(retrans) * 1.35 + 1)

    before = 0
    fired = 0
    for row in rows:  # a timeout shows as tcpi_retransmits counting up (it falls back to 0 once acked)
        now = row.get("retransmits")
        if _is_number(now) and now > before:
            fired += 1
            ax.axvline(row["t"], color=_TIMEOUT, linestyle=":", linewidth=1.4, gid="tcpinfo:timeout")
            words = f"timeout {fired}"
            if _is_number(row.get("rto_ms")):
                words += f"\nnext wait {row['rto_ms']:.0f} ms"
            ax.text(row["t"], top * 0.62 - 0.14 * top * ((fired - 1) % 2), words, ha="left", va="center",
                    fontsize=8.5, color=_TIMEOUT, gid="tcpinfo:timeout-label",
                    bbox={"boxstyle": "round,pad=0.2", "facecolor": "white", "edgecolor": "none", "alpha": 0.85})
        if _is_number(now):
            before = now

    moving = _moving_again(rows, dark)
    if moving is not None:
        ax.axvline(moving, color=_CWND, linestyle="--", linewidth=1.2, gid="tcpinfo:moving")
        ax.annotate("", xy=(moving, top * 0.3), xytext=(dark[1], top * 0.3),
                    arrowprops={"arrowstyle": "<->", "color": "0.25", "linewidth": 1.2}, gid="tcpinfo:wait")
        ax.text((dark[1] + moving) / 2, top * 0.3 + top * 0.03, "cable back: TCP waits\nfor its next timeout",
                ha="center", va="bottom", fontsize=8.5, color="0.2", gid="tcpinfo:wait-label")

    ax.set_xlim(min(times), max(times))
    ax.set_ylim(0, top)
    ax.set_xlabel("time since the stream began (s)")
    ax.set_ylabel("congestion window (segments)", color=_CWND)
    ax.tick_params(axis="y", colors=_CWND)
    lines = ax.get_lines()[:1] + right.get_lines()[:1]
    ax.legend(lines, [line.get_label() for line in lines], loc="upper right", fontsize=8.5, framealpha=0.9)
    ax.set_title(title or "TCP_INFO while the cable is out: the window collapses, the timer backs off")
    ax.right_axis = right
    return ax
