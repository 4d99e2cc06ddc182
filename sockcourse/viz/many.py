"""Pictures of chapter 04 (many clients): the accept queue, who waits for whom, and how each model scales.

Each function draws real data that a notebook cell measured (with
`sockcourse.manyclients` or a live listening socket), on the Axes it is given
(`ax=`), and returns that Axes. Artists the tests look for carry a `gid`
such as "scaling:threads".
"""

from __future__ import annotations

import math

from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle
from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

from .style import PALETTE, new_axes

#: One colour, marker and line style per server model, so a grey-scale print still tells them apart.
MODEL_STYLES = {
    "iterative": {"color": PALETTE["vermillion"], "marker": "s", "linestyle": ":"},
    "threads": {"color": PALETTE["orange"], "marker": "^", "linestyle": "--"},
    "selectors": {"color": PALETTE["blue"], "marker": "o", "linestyle": "-"},
    "asyncio": {"color": PALETTE["bluish green"], "marker": "D", "linestyle": "-."},
}
_OTHER_STYLE = {"color": PALETTE["reddish purple"], "marker": "v", "linestyle": "-"}

#: What `scaling` can draw: the Run field, the axis label, and the title.
METRICS = {
    "seconds": ("seconds until every echo was back", "Time to serve everyone"),
    "memory": ("user-space memory growth, MiB", "The server process's memory (RSS)"),
    "kernel": ("kernel memory growth, MiB", "Kernel memory, both ends of each connection"),
    "threads": ("threads in the server process", "Threads, the process's main thread included"),
}

#: The share of a "seconds" Axes, at its top, kept for the runs that never finished.
_GAVE_UP_BAND = 0.16

_QUEUE, _WAITING, _LIMIT = PALETTE["bluish green"], PALETTE["vermillion"], PALETTE["black"]
_SLOW, _FAST, _IDLE = PALETTE["vermillion"], PALETTE["blue"], "#D9D9D9"


def _count_label(value, _position=None) -> str:
    return f"{value:,.0f}" if value >= 1 else f"{value:g}"


def _log_ticks(axis, low: float, high: float) -> None:
    """Ticks at the powers of ten between low and high, and no minor ticks, on a log-scaled axis.

    The same labelled ticks as matplotlib's automatic log locator, without
    its unlabelled minor ticks (eight a decade), which the layout measures
    and places again on every draw: most of a three-panel figure's drawing
    time. An axis that shows less than two powers of ten gets steps of 1, 2
    and 5 instead, and one narrower still keeps matplotlib's own ticks (few,
    on so short an axis), so that every axis has numbers on it.
    """
    low, high = sorted((low, high))
    if not (low > 0 and math.isfinite(high)):
        return  # nothing drawn on it yet: matplotlib's own ticks will do
    inside = low * (1 - 1e-9), high * (1 + 1e-9)
    first, last = math.floor(math.log10(low)), math.ceil(math.log10(high))
    ticks = [10.0 ** k for k in range(first, last + 1) if inside[0] <= 10.0 ** k <= inside[1]]
    if len(ticks) < 2:
        ticks = [step * 10.0 ** k for k in range(first, last + 1) for step in (1, 2, 5)
                 if inside[0] <= step * 10.0 ** k <= inside[1]]
    if len(ticks) < 2:
        return
    axis.set_major_locator(FixedLocator(ticks))
    axis.set_minor_locator(NullLocator())


# -- how each model scales ------------------------------------------------------------------
def _check_runs(runs) -> list:
    rows = list(runs) if isinstance(runs, (list, tuple)) else None
    if not rows:
        raise TypeError(f"Expected a non-empty list of manyclients.Run, as manyclients.sweep() returns, but got "
                        f"{runs!r}; run sockcourse.manyclients.sweep(...) first.")
    for run in rows:
        if not all(hasattr(run, name) for name in ("model", "clients", "ok", "seconds", "memory_mib", "threads")):
            raise TypeError(f"Expected manyclients.Run objects, but the list holds {run!r}; pass what "
                            f"manyclients.sweep() or manyclients.load() returned.")
    return rows


def _value(run, metric: str):
    if metric == "seconds":
        return run.seconds
    if metric in ("memory", "kernel"):
        # Memory can even shrink a little between two samples (the kernel's is machine-wide,
        # and other programs free some meanwhile); the log axis needs > 0.
        value = run.memory_mib if metric == "memory" else getattr(run, "kernel_mib", None)
        return None if value is None else max(value, 0.01)
    return run.threads


def _why_short(run) -> str:
    """The reason a run gave up, short enough to sit beside its marker."""
    reason = run.gave_up or (", ".join(f"{n} {why}" for why, n in run.failed.items()) if run.failed else "")
    reason = reason.split(", with ")[0]  # "nothing moved for 3.0 s, with 9 of 10 ..." -> its first part
    return reason if len(reason) <= 40 else reason[:39] + "\u2026"


def _gave_up_band(ax, failures) -> None:
    """The runs that never finished, as crosses in a band at the top of the Axes, with no y-value.

    A failed run has no time to plot, so its marker must not sit at a made-up
    height: the band is outside the lines' range, its x is the run's client
    count, and the text says why the run stopped.
    """
    ax.autoscale_view()
    low, high = ax.get_ylim()
    if low > 0 and high > low:
        # Stretch the log axis so the lines stay below the band.
        span = math.log10(high) - math.log10(low)
        ax.set_ylim(low, 10 ** (math.log10(low) + span / (1 - _GAVE_UP_BAND)))
    ax.add_patch(Rectangle((0, 1 - _GAVE_UP_BAND), 1, _GAVE_UP_BAND, transform=ax.transAxes, facecolor="#EEEEEE",
                           edgecolor="none", zorder=0, gid="scaling:gave-up-band"))
    strip = ax.get_xaxis_transform()  # x in data (clients), y in Axes fractions
    for run in failures:
        colour = MODEL_STYLES.get(run.model, _OTHER_STYLE)["color"]
        ax.plot([run.clients], [1 - _GAVE_UP_BAND / 2], transform=strip, marker="X", markersize=11,
                linestyle="none", color=colour, markeredgecolor="black", clip_on=False,
                gid=f"scaling:failed:{run.model}")
        # The text goes on the side with more room: a failure near the right edge writes to its left.
        left, right = (math.log10(v) for v in ax.get_xlim())
        rightish = (math.log10(run.clients) - left) / ((right - left) or 1) > 0.5
        ax.annotate(f"{run.model} at {run.clients:,} never finished:\n{_why_short(run)}",
                    (run.clients, 1 - _GAVE_UP_BAND / 2), xycoords=strip, xytext=(-9 if rightish else 9, 0),
                    textcoords="offset points", fontsize=9, va="center", ha="right" if rightish else "left")


def scaling(runs, metric: str = "seconds", ax=None, title: str | None = None, legend: bool = True):
    """One line per server model: `metric` against the number of concurrent clients, both on log scales.

    metric: "seconds" (until every echo was back), "memory" (growth of the
    server's resident memory, user space only), "kernel" (growth of the
    kernel's memory, for both ends of every connection: Run.kernel_mib) or
    "threads" (of the server process, its main thread included).
    Only runs in which every echo came back right make the lines. On the
    "seconds" axes, a run that failed is a cross in a band at the top, with
    the reason beside it: it never finished, so it has no time. legend:
    False leaves the legend to another Axes of the same figure.
    """
    if metric not in METRICS:
        raise ValueError(f"Unknown metric {metric!r}; expected one of {', '.join(map(repr, METRICS))}, "
                         f"for example metric='memory'.")
    rows = _check_runs(runs)
    ax = new_axes(ax, (6.4, 4.4))
    ylabel, default_title = METRICS[metric]
    models = list(dict.fromkeys(run.model for run in rows))
    lines = {}
    for model in models:
        style = MODEL_STYLES.get(model, _OTHER_STYLE)
        good = sorted((run.clients, _value(run, metric)) for run in rows
                      if run.model == model and run.ok and _value(run, metric) is not None)
        if good:
            xs, ys = zip(*good)
            ax.plot(xs, ys, label=model, linewidth=2, markersize=7, gid=f"scaling:{model}", **style)
            lines[model] = good
        else:
            ax.plot([], [], label=model, linewidth=2, **style)  # in the legend, with nothing to draw
    if not lines:
        # Nothing to draw on log axes (a file saved before this was measured, say): say so instead.
        ax.text(0.5, 0.5, f"no {metric} values in these runs\n(saved before they were measured?)",
                transform=ax.transAxes, ha="center", va="center", fontsize=10, gid="scaling:empty")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_xlabel("concurrent connections")
        ax.set_ylabel(ylabel)
        ax.set_title(title or default_title)
        return ax
    ax.set_xscale("log")
    ax.set_yscale("log")
    # Plain numbers (0.01, 1, 1,000) on both axes: easier to read than powers of ten, and
    # quicker to draw (no mathtext to lay out for every label).
    ax.xaxis.set_major_formatter(FuncFormatter(_count_label))
    ax.yaxis.set_major_formatter(FuncFormatter(_count_label))
    if metric == "threads":
        _name_flat_lines(ax, lines)
    failures = [run for run in rows if not run.ok and not run.note]
    ax.autoscale_view()
    if metric == "seconds" and failures:
        _gave_up_band(ax, failures)
    _log_ticks(ax.xaxis, *ax.get_xlim())
    low, high = ax.get_ylim()
    if metric == "seconds" and failures:
        high = 10 ** (math.log10(low) + (math.log10(high) - math.log10(low)) * (1 - _GAVE_UP_BAND))
    _log_ticks(ax.yaxis, low, high)
    ax.set_xlabel("concurrent connections (log scale)")
    ax.set_ylabel(ylabel)
    ax.set_title(title or default_title)
    ax.grid(True, which="major", alpha=0.3)
    if legend:
        handles, labels = ax.get_legend_handles_labels()
        if failures:
            handles.append(Line2D([], [], marker="X", linestyle="none", color="white", markeredgecolor="black",
                                  markersize=10))
            labels.append("gave up (no time to plot)")
        # The curves climb to the upper right, so the lower right stays empty; on the threads
        # Axes the flat lines lie along the bottom, so the upper left is free there.
        ax.legend(handles, labels, fontsize=9, loc="upper left" if metric == "threads" else "lower right")
    return ax


def _name_flat_lines(ax, lines: dict) -> None:
    """Lines that lie on top of each other (same values everywhere) get one label that names them all."""
    groups = {}
    for model, points in lines.items():
        values = {value for _, value in points}
        if len(values) == 1:
            groups.setdefault(values.pop(), []).append((model, max(x for x, _ in points)))
    for value, members in groups.items():
        if len(members) > 1:
            names = " and ".join(name for name, _ in members) if len(members) == 2 else \
                ", ".join(name for name, _ in members[:-1]) + " and " + members[-1][0]
            right = max(x for _, x in members)
            ax.annotate(f"{names}: {value:,.0f} each", (right, value), xytext=(0, 9),
                        textcoords="offset points", ha="right", fontsize=9, gid="scaling:flat")


# -- the accept queue ------------------------------------------------------------------------
def accept_queue(steps, backlog: int, ax=None, title: str | None = None):
    """Stacked bars, one per step: connections in the accept queue, and clients still in SYN_SENT.

    steps: a list of dicts {"step": label, "queue": n, "syn_sent": n}, read
    from the kernel after each connect() or accept(). backlog: what listen() got.
    """
    rows = list(steps) if isinstance(steps, (list, tuple)) else None
    if not rows or not all(isinstance(r, dict) and {"step", "queue", "syn_sent"} <= set(r) for r in rows):
        raise TypeError(f"Expected a non-empty list of dicts with 'step', 'queue' and 'syn_sent', but got "
                        f"{steps!r}; read them from the kernel after each connect() or accept().")
    if isinstance(backlog, bool) or not isinstance(backlog, int) or backlog < 0:
        raise ValueError(f"The backlog must be the whole number given to listen(), but got {backlog!r}; "
                         f"for example backlog=3.")
    ax = new_axes(ax, (7.5, 4.2))
    xs = range(len(rows))
    queued = [r["queue"] for r in rows]
    waiting = [r["syn_sent"] for r in rows]
    ax.bar(xs, queued, color=_QUEUE, edgecolor="black", label="handshake done, waiting for accept()",
           gid="queue:accept")
    ax.bar(xs, waiting, bottom=queued, color=_WAITING, edgecolor="black", hatch="//",
           label="client still in SYN_SENT (its SYN ignored)", gid="queue:syn_sent")
    ax.axhline(backlog, color=_LIMIT, linestyle="--", linewidth=1.2, gid="queue:backlog")
    label_box = {"boxstyle": "round,pad=0.2", "facecolor": "white", "edgecolor": "none", "alpha": 0.9}
    ax.text(-0.45, backlog, f"listen(backlog={backlog})", va="bottom", ha="left", fontsize=9,
            bbox=label_box)
    most = max(queued)
    if most > backlog:
        # Linux calls the queue full only when it holds more than the backlog.
        ax.axhline(most, color=_LIMIT, linestyle=":", linewidth=1.2, gid="queue:most")
        ax.text(-0.45, most, f"most it held: {most}", va="bottom", ha="left", fontsize=9, bbox=label_box)
    ax.set_xticks(list(xs), [r["step"] for r in rows], rotation=30, ha="right", fontsize=9)
    ax.set_xlabel("after each call")
    ax.set_ylabel("client connections")
    ax.set_ylim(0, max(q + w for q, w in zip(queued, waiting)) + 2.5)
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.set_title(title or "The listening socket's accept queue, step by step")
    ax.legend(fontsize=9, loc="upper right")
    ax.grid(True, axis="y", alpha=0.3)
    return ax


# -- who waits for whom --------------------------------------------------------------------------
def service_timeline(rows, ax=None, title: str | None = None, until: float | None = None, legend: bool = True):
    """One row per client: a grey line while it waits for its echo after connecting, a dot when the echo is back.

    rows: what `manyclients.waiting_times()` returns. until: the right end of
    the time axis in seconds (to give two pictures the same scale). legend:
    False leaves the legend to another Axes (it goes to the right of the Axes).
    """
    rows = list(rows) if isinstance(rows, (list, tuple)) else None
    if not rows or not all(isinstance(r, dict) and {"client", "slow", "connected", "answered"} <= set(r)
                           for r in rows):
        raise TypeError(f"Expected a non-empty list of dicts from manyclients.waiting_times(), but got {rows!r}.")
    if any(r["connected"] is None or r["answered"] is None for r in rows):
        raise ValueError("Some client never got its echo (its times are None), so there is no wait to draw; "
                         "run manyclients.waiting_times() again, and check that the server answers.")
    ax = new_axes(ax, (7.0, 3.2))
    for r in sorted(rows, key=lambda r: r["client"]):
        y = r["client"]
        colour = _SLOW if r["slow"] else _FAST
        start, end = r["connected"] * 1000, r["answered"] * 1000
        ax.plot([start, end], [y, y], color=_IDLE if not r["slow"] else _SLOW, linewidth=6,
                solid_capstyle="butt", gid=f"timeline:wait:{y}", alpha=0.9 if r["slow"] else 1.0)
        ax.plot([end], [y], marker="o", color=colour, markersize=8, gid=f"timeline:answer:{y}")
    ax.set_yticks([r["client"] for r in rows],
                  [f"client {r['client']}" + (" (slow)" if r["slow"] else "") for r in rows])
    ax.invert_yaxis()
    ax.set_xlabel("time since the first connect, ms")
    if until is not None:
        ax.set_xlim(0, until * 1000)
    else:
        ax.set_xlim(0, None)
    ax.set_title(title or "When each client's echo came back")
    ax.grid(True, axis="x", alpha=0.3)
    handles = [Line2D([], [], color=_SLOW, linewidth=6, label="slow client: connected, says nothing yet"),
               Line2D([], [], color=_IDLE, linewidth=6, label="waiting for its echo"),
               Line2D([], [], color=_FAST, marker="o", linestyle="none", label="echo back")]
    if legend:
        ax.legend(handles=handles, fontsize=9, loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
    return ax
