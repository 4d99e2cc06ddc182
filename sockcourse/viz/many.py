"""Pictures of chapter 04 (many clients): the accept queue, who waits for whom, and how each model scales.

Each function draws real data that a notebook cell measured (with
`sockcourse.manyclients` or a live listening socket), on the Axes it is given
(`ax=`), and returns that Axes. Artists the tests look for carry a `gid`
such as "scaling:threads".
"""

from __future__ import annotations

import math

from matplotlib.lines import Line2D
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
    "seconds": ("seconds until every echo was back (log scale)", "Time to serve everyone"),
    "memory": ("growth of the server's memory, MiB (log scale)", "Memory the connections cost"),
    "threads": ("threads in the server process (log scale)", "Threads the server needs"),
}

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
    if metric == "memory":
        # Resident memory can even shrink a little between two samples; the log axis needs > 0.
        return None if run.memory_mib is None else max(run.memory_mib, 0.01)
    return run.threads


def scaling(runs, metric: str = "seconds", ax=None, title: str | None = None, legend: bool = True):
    """One line per server model: `metric` against the number of concurrent clients, both on log scales.

    metric: "seconds" (until every echo was back), "memory" (growth of the
    server's resident memory) or "threads" (of the server process).
    Only runs in which every echo came back right make the lines. On the
    "seconds" axes, a run that failed is a cross above the lines: it never
    finished, so it has no time. legend: False leaves the legend to another
    Axes of the same figure.
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
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.xaxis.set_major_formatter(FuncFormatter(_count_label))
    if metric == "threads":
        ax.yaxis.set_major_formatter(FuncFormatter(_count_label))
        _name_flat_lines(ax, lines)
    failures = [run for run in rows if not run.ok and not run.note]
    if metric == "seconds" and failures:
        ax.autoscale_view()
        low, high = ax.get_ylim()
        # A band above the lines for the runs that never finished.
        ax.set_ylim(low, high * 8)
        for run in failures:
            colour = MODEL_STYLES.get(run.model, _OTHER_STYLE)["color"]
            ax.plot([run.clients], [high * 2.5], marker="X", markersize=12, linestyle="none", color=colour,
                    markeredgecolor="black", gid=f"scaling:failed:{run.model}")
            ax.annotate(f"{run.model} gave up", (run.clients, high * 2.5), xytext=(9, -3),
                        textcoords="offset points", fontsize=8, color="black", va="center")
    ax.autoscale_view()
    _log_ticks(ax.xaxis, *ax.get_xlim())
    _log_ticks(ax.yaxis, *ax.get_ylim())
    ax.set_xlabel("concurrent connections (log scale)")
    ax.set_ylabel(ylabel)
    ax.set_title(title or default_title)
    ax.grid(True, which="major", alpha=0.3)
    if legend:
        handles, labels = ax.get_legend_handles_labels()
        if failures:
            handles.append(Line2D([], [], marker="X", linestyle="none", color="white", markeredgecolor="black",
                                  markersize=10))
            labels.append("gave up (never finished)")
        # Lower right: the curves climb to the upper right, so that corner stays empty.
        ax.legend(handles, labels, fontsize=8, loc="lower right")
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
                        textcoords="offset points", ha="right", fontsize=8, gid="scaling:flat")


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
    ax.legend(fontsize=8, loc="upper right")
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
        ax.legend(handles=handles, fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
    return ax
