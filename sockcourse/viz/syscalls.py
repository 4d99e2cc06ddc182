"""The system calls of two programs side by side, as strace traced them (chapter 06).

`side_by_side(left, right)` draws two timelines, one per program, with each
call where it happened in time, labelled with its name and the arguments that
matter (descriptor, address, byte count), and a faint arrow from each send to
the recv on the other side that got the same bytes. It draws the records of
`sockcourse.peers.strace` (a SyscallTrace, or a list of its Call records) by
their shape: this module imports nothing from peers and opens no socket.

Time runs down, in milliseconds since the earlier of the two first calls. The
calls of one program come microseconds apart, and then wait for the other for
hundreds of milliseconds (a Python client takes that long to start), so a
straight scale would put every call on one line. The axis therefore spreads
crowded calls one line apart and shortens each long wait to a marked gap
("≈ 1240 ms"); the order of the calls, across both columns, is the true order,
and the ticks give true times. A call that spent a millisecond or more inside
the kernel (a blocking accept, a read waiting for data) has a bar along its
timeline for that time. An arrow starts where the send began and ends where
the recv came back with the bytes: a recv often begins first and waits inside
the kernel (a short bar then shows that wait).
"""

from __future__ import annotations

import math

from ..core.errors import ArgumentError, ArgumentTypeError
from .style import PALETTE, ROLE_COLOURS, new_axes, shorten

#: Colour of each kind of call; the marker shape says the same for a grey-scale print.
KINDS = {
    "set-up": (PALETTE["blue"], "s", "socket, bind, listen, options"),
    "connect": (PALETTE["bluish green"], "D", "connect, accept"),
    "send": (PALETTE["vermillion"], ">", "send, write"),
    "receive": (PALETTE["sky blue"], "<", "recv, read"),
    "wait": ("#8C8C8C", "o", "poll, select"),
    "end": (PALETTE["reddish purple"], "X", "shutdown, close"),
    "process": (PALETTE["black"], "*", "signal, end of the process"),
}

_SET_UP = {"socket", "socketpair", "bind", "listen", "setsockopt", "getsockopt", "getsockname", "getpeername",
           "ioctl", "fcntl"}
_CONNECT = {"connect", "accept", "accept4"}
_WAIT = {"poll", "ppoll", "select", "pselect6", "epoll_wait", "epoll_pwait"}
_END = {"shutdown", "close"}

#: The most calls drawn per column; a longer list is cut, with a note.
MAX_CALLS = 80

#: The layout, in rows of text: a gap up to LINEAR_ROWS is drawn to scale (ROWS_PER_MS), a longer one
#: is shortened to BREAK_ROWS and marked.
ROWS_PER_MS = 2.0
LINEAR_ROWS = 4.0
BREAK_ROWS = 2.6

#: Calls that spent at least this long inside the kernel get a bar and their time in the label.
BAR_MS = 1.0

_TEXT = 9.5
_LABEL_CHARS = 58
_LEFT_X, _RIGHT_X = 0.385, 0.615


def _records(side, what: str) -> tuple[list, list]:
    """The calls to draw (a trace's socket part) and, for a trace, its signals and ends."""
    events = []
    if hasattr(side, "socket_calls"):
        calls = list(side.socket_calls)
        events = list(getattr(side, "events", []))
    elif isinstance(side, (list, tuple)):
        calls = list(side)
    else:
        raise ArgumentTypeError(f"The {what} side must be a SyscallTrace or a list of its Call records, but got "
                                f"{type(side).__name__}; for example side_by_side(server.syscall_trace(), client).")
    for call in calls:
        if not all(hasattr(call, name) for name in ("time", "name", "label", "duration", "pid")):
            raise ArgumentTypeError(f"The {what} side holds {call!r}, which is not a Call record of "
                                    f"sockcourse.peers.strace; pass trace.calls or strace.socket_part(...).")
    if calls:
        first = calls[0].time
        pids = {call.pid for call in calls}
        events = [e for e in events if e.time >= first and e.pid in pids and e.kind in ("signal", "exited", "killed")]
    else:
        events = []
    return calls, events


def _kind(call) -> str:
    if call.name in _CONNECT:
        return "connect"
    if getattr(call, "direction", None) == "out":
        return "send"
    if getattr(call, "direction", None) == "in":
        return "receive"
    if call.name in _WAIT:
        return "wait"
    if call.name in _END:
        return "end"
    return "set-up"


def _pairs(left: list, right: list) -> list[tuple[int, int]]:
    """(i, j): a send of one side and the recv of the other covering the same bytes (strace.pairs' rule)."""
    found = []
    for sender, receiver, flip in ((left, right, False), (right, left, True)):
        wanted = {(c.connection, c.offset, c.nbytes): j for j, c in enumerate(receiver)
                  if getattr(c, "direction", None) == "in" and c.offset is not None and c.nbytes}
        for i, c in enumerate(sender):
            if getattr(c, "direction", None) == "out" and c.offset is not None and c.nbytes:
                j = wanted.get((c.connection, c.offset, c.nbytes))
                if j is not None and not (c.whole_data and receiver[j].whole_data and c.data != receiver[j].data):
                    found.append((j, i) if flip else (i, j))
    return sorted(found)


def _layout(items: list) -> tuple[dict, list, list]:
    """Rows for every (time, column, key) item: one line apart within a column, long waits shortened.

    Returns {key: row}, the knots (time, row) of the time axis, and the breaks (row, ms shortened).
    """
    rows, knots, breaks = {}, [], []
    last_row = {0: -math.inf, 1: -math.inf}
    previous_time = previous_row = None
    for moment, column, key in sorted(items, key=lambda item: (item[0], item[1])):
        if previous_time is None:
            row = 0.0
        else:
            gap = (moment - previous_time) * 1000 * ROWS_PER_MS
            if gap > LINEAR_ROWS:
                breaks.append((previous_row + BREAK_ROWS / 2, (moment - previous_time) * 1000))
                gap = BREAK_ROWS
            row = max(previous_row + gap, last_row[column] + 1.0)
        rows[key] = row
        last_row[column] = row
        knots.append((moment, row))
        previous_time, previous_row = moment, row
    return rows, knots, breaks


def _row_at(moment: float, knots: list) -> float:
    """The row of any moment: straight between the knots, a long wait's rows spread evenly."""
    if moment <= knots[0][0]:
        return knots[0][1]
    for (t0, r0), (t1, r1) in zip(knots, knots[1:]):
        if t0 <= moment <= t1:
            return r0 if t1 == t0 else r0 + (r1 - r0) * (moment - t0) / (t1 - t0)
    return knots[-1][1] + 0.6


def _ms(value: float) -> str:
    return f"{value:.2f}" if value < 100 else f"{value:.1f}"


def side_by_side(left, right, titles=("C server", "Python client"), ax=None):
    """Two columns of system calls, placed by time, with arrows from each send to the recv that got its bytes.

    left, right: a SyscallTrace (its socket part is drawn, from the first
    socket() on, and its signals and ends) or a list of strace Call records.
    titles: the two columns' names. The arrows are matched by order and size:
    the k-th connection of each side, a send and a recv that start at the same
    byte of it and move as many bytes. Returns the Axes.
    """
    if (not isinstance(titles, (tuple, list)) or len(titles) != 2
            or not all(isinstance(title, str) and title.strip() for title in titles)):
        raise ArgumentTypeError(f"titles must be two names, one per column, but got {titles!r}; for example "
                                f"titles=('C server', 'Python client').")
    sides = [_records(left, "left"), _records(right, "right")]
    if not sides[0][0] and not sides[1][0]:
        raise ArgumentError("Neither side has a system call on a socket to draw; trace a program that opens one "
                            "(strace.run(...) or strace.Traced(...)), and pass what it returned.")
    cut = []
    for column, (calls, _events) in enumerate(sides):
        if len(calls) > MAX_CALLS:
            cut.append(f"{titles[column]}: first {MAX_CALLS} of {len(calls)} calls")
            del calls[MAX_CALLS:]
    items = [(c.time, column, ("call", column, i)) for column, (calls, _) in enumerate(sides)
             for i, c in enumerate(calls)]
    items += [(e.time, column, ("event", column, i)) for column, (_, events) in enumerate(sides)
              for i, e in enumerate(events)]
    rows, knots, breaks = _layout(items)
    origin = min(moment for moment, _, _ in items)
    height = max(rows.values()) + 1.5

    ax = new_axes(ax, (14, min(4.0 + 0.2 * height, 40.0)))
    xs = (_LEFT_X, _RIGHT_X)
    for column, (calls, events) in enumerate(sides):
        x = xs[column]
        outward = -1 if column == 0 else 1
        align = "right" if column == 0 else "left"
        ax.plot([x, x], [-0.6, height - 0.6], color=ROLE_COLOURS["server" if column == 0 else "client"],
                linewidth=2.5, solid_capstyle="butt", zorder=1, gid="syscalls:timeline")
        pids = sorted({c.pid for c in calls})
        heading = titles[column] + (f"  (pid {', '.join(map(str, pids[:3]))}{', …' if len(pids) > 3 else ''})"
                                    if pids else "")
        ax.text(x, -1.6, heading, ha="center", va="bottom", fontsize=_TEXT + 2, fontweight="bold")
        for i, call in enumerate(calls):
            row = rows[("call", column, i)]
            colour, marker, _ = KINDS[_kind(call)]
            ax.plot([x], [row], marker=marker, markersize=7, color=colour, markeredgecolor="black",
                    markeredgewidth=0.6 if not getattr(call, "failed", False) else 1.6, linestyle="none", zorder=4,
                    gid="syscalls:call")
            text = call.label()
            inside = (call.duration or 0) * 1000
            if inside >= BAR_MS:
                end = _row_at(call.time + call.duration, knots)
                ax.plot([x + outward * 0.008] * 2, [row, end], color=colour, linewidth=5, alpha=0.55,
                        solid_capstyle="butt", zorder=2, gid="syscalls:bar")
                text += f"  [{_ms(inside)} ms inside]"
            ax.text(x + outward * 0.018, row, shorten(text, _LABEL_CHARS), ha=align, va="center",
                    fontsize=_TEXT, family="monospace", zorder=3, gid="syscalls:label")
        for i, event in enumerate(events):
            row = rows[("event", column, i)]
            ax.plot([x], [row], marker=KINDS["process"][1], markersize=9, color=KINDS["process"][0],
                    linestyle="none", zorder=4, gid="syscalls:event")
            words = {"signal": f"--- {event.detail.split(' ')[0]} arrives ---",
                     "exited": f"+++ exited with {event.detail} +++",
                     "killed": f"+++ killed by {event.detail} +++"}[event.kind]
            ax.text(x + outward * 0.018, row, words, ha=align, va="center", fontsize=_TEXT, family="monospace",
                    style="italic", zorder=3, gid="syscalls:label")

    found = _pairs(sides[0][0], sides[1][0])
    for i, j in found:
        a, b = sides[0][0][i], sides[1][0][j]
        if a.direction == "out":
            receiver, start, begun, x_to, outward = b, (xs[0], rows[("call", 0, i)]), rows[("call", 1, j)], xs[1], 1
        else:
            receiver, start, begun, x_to, outward = a, (xs[1], rows[("call", 1, j)]), rows[("call", 0, i)], xs[0], -1
        # A recv often begins before the send and waits inside the kernel: the bytes are there when it returns,
        # so the arrow ends there, on a bar from the recv's mark (unless its wait was long enough to have one).
        end = (x_to, _row_at(receiver.time + (receiver.duration or 0.0), knots))
        if end[1] - begun > 0.25 and (receiver.duration or 0) * 1000 < BAR_MS:
            ax.plot([x_to + outward * 0.008] * 2, [begun, end[1]], color=KINDS["receive"][0], linewidth=5,
                    alpha=0.55, solid_capstyle="butt", zorder=2, gid="syscalls:bar")
        ax.annotate("", xy=end, xytext=start, zorder=2, gid="syscalls:pair",
                    arrowprops={"arrowstyle": "-|>", "color": "0.55", "alpha": 0.7, "linewidth": 1.0,
                                "shrinkA": 5, "shrinkB": 5, "mutation_scale": 11})
        middle = ((start[0] + end[0]) / 2, (start[1] + end[1]) / 2)
        ax.text(*middle, f"{a.nbytes} B", ha="center", va="bottom", fontsize=_TEXT - 0.5, color="0.35",
                zorder=3, gid="syscalls:pair-size")

    for row, shortened in breaks:
        ax.plot([0.02, 0.98], [row, row], color="0.6", linewidth=0.8, linestyle=(0, (2, 3)), zorder=0,
                gid="syscalls:break")
        ax.text(0.005, row, f"≈ {_ms(shortened)} ms pass here", ha="left", va="center", fontsize=_TEXT,
                color="0.3", style="italic", zorder=3, bbox={"boxstyle": "round,pad=0.2", "facecolor": "white",
                                                              "edgecolor": "none"})

    ticks, last = [], -math.inf
    shortened_rows = [row for row, _ in breaks]
    for moment, row in knots:
        after_break = any(last < b < row for b in shortened_rows)
        if row - last >= 5 or after_break:
            ticks.append((row, _ms((moment - origin) * 1000)))
            last = row
    ax.set_yticks([row for row, _ in ticks], [text for _, text in ticks], fontsize=_TEXT)
    ax.set_ylim(height, -2.2)
    ax.set_xlim(0, 1)
    ax.set_xticks([])
    for spine in ("top", "right", "bottom"):
        ax.spines[spine].set_visible(False)
    ax.set_ylabel("time since the first call (ms), running down; not to scale", fontsize=_TEXT + 0.5)

    from matplotlib.lines import Line2D  # only here: the legend is the one place that needs its type

    handles = [Line2D([], [], marker=marker, color=colour, markeredgecolor="black", markeredgewidth=0.6,
                      linestyle="none", markersize=7, label=words) for colour, marker, words in KINDS.values()]
    handles.append(Line2D([], [], color="0.55", marker=">", markersize=5, label="same bytes: send → recv"))
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=4, fontsize=_TEXT,
              frameon=False)
    note = f" ({'; '.join(cut)})" if cut else ""
    ax.set_title(f"{titles[0]} and {titles[1]}: their system calls, as traced by strace{note}\n"
                 f"Calls one line apart in each column and long waits shortened (≈): the order is true, the "
                 f"spacing is not. Bars: time inside a call.\nArrows join a send and the recv that got the same "
                 f"bytes, matched by order and size (the k-th connection of each side), not seen on the wire.",
                 fontsize=_TEXT + 1, loc="left")
    return ax
