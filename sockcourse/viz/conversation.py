"""Pictures of one conversation, drawn from a server's Trace: sequence diagrams and byte timelines."""

from __future__ import annotations

from matplotlib.lines import Line2D
from matplotlib.ticker import EngFormatter, FuncFormatter, MaxNLocator

from ..core.trace import Event, Trace
from .style import (CONNECTION_COLOURS, MAX_ROWS, NOTE, NOTE_CHARS, PREVIEW_CHARS, RESET, TO_CLIENT, TO_SERVER, axes_size,
                    new_axes, shorten)

#: How each kind of arrow is drawn: data solid, what a call saw dashed, what no call saw dotted.
_LINES = {"data": "-", "control": "--", "inferred": ":", "reset": "-"}
INFERRED = "0.55"


# -- input checks ------------------------------------------------------------
def _events_of(trace) -> list[Event]:
    """The events of a Trace or a list of Events; a clear error for anything else."""
    if isinstance(trace, Trace):
        events = trace.events
    elif isinstance(trace, (list, tuple)):
        for item in trace:
            if not isinstance(item, Event):
                raise TypeError(
                    f"Expected a Trace or a list of Event, but the list holds {item!r} "
                    f"(type {type(item).__name__}); pass server.trace itself."
                )
        events = list(trace)
    else:
        hint = ("pass server.trace, the server's record of events"
                if isinstance(getattr(trace, "trace", None), Trace) else
                "pass server.trace from a server started with sockcourse.serve()")
        raise TypeError(
            f"Expected a Trace (or a list of Event), but got {trace!r} (type {type(trace).__name__}); {hint}."
        )
    if not events:
        raise ValueError(
            "The trace is empty, so there is nothing to draw; talk to the server first "
            "(connect and send something), then draw server.trace."
        )
    return events


def _check_conn(conn, events: list[Event]) -> None:
    if conn is None:
        return
    numbers = sorted({e.conn for e in events if e.kind == "accept"})
    if isinstance(conn, bool) or not isinstance(conn, int) or conn not in numbers:
        have = (f"connections {', '.join(f'#{n}' for n in numbers)}" if numbers
                else "no connections at all (a datagram server has none)")
        raise ValueError(
            f"There is no connection {conn!r} in this trace; it has {have}. "
            f"Pass conn= one of those numbers, or leave conn=None to draw them all."
        )


def _listen_time(events: list[Event]) -> float:
    """When the server started listening, in the trace's seconds: the zero of every time axis."""
    return next((e.t for e in events if e.kind == "listen"), 0.0)



def _payload(event: Event) -> str:
    shown = shorten(repr(event.data), PREVIEW_CHARS)
    return f"{shown}  ({event.nbytes} B)"


# -- sequence diagram ----------------------------------------------------------
def _sequence_rows(events: list[Event], show_handshake: bool, numbered: bool) -> list[dict]:
    """Turn events into rows: an arrow (dir +1 client->server, -1 back) or a note."""
    rows = []
    fin_sent, reset = set(), set()
    datagram_peers = {e.peer for e in events if e.kind in ("recvfrom", "sendto")}

    def add(kind, label, event, direction=0, style="data", timed=True):
        tag = f"#{event.conn} " if numbered and event.conn else ""
        rows.append({"kind": kind, "label": tag + label, "dir": direction, "style": style,
                     "t": event.t if timed else None, "conn": event.conn})

    for e in events:
        if e.kind == "accept":
            if show_handshake:
                # No call sees the SYN and the SYN+ACK: they are drawn from what must have happened.
                add("arrow", "SYN  (inferred)", e, +1, "inferred", timed=False)
                add("arrow", "SYN+ACK  (inferred)", e, -1, "inferred", timed=False)
                add("arrow", "ACK: handshake done  (seen at accept())", e, +1, "control")
            else:
                add("note", "accept(): connected", e)
        elif e.kind == "recv":
            add("arrow", _payload(e), e, +1)
        elif e.kind == "send":
            add("arrow", _payload(e), e, -1)
        elif e.kind in ("recvfrom", "sendto"):
            who = f"{e.peer}: " if len(datagram_peers) > 1 else ""
            add("arrow", who + "datagram " + _payload(e), e, +1 if e.kind == "recvfrom" else -1)
        elif e.kind == "eof":
            add("arrow", "FIN  (seen when recv() returns b'')", e, +1, "control")
            add("arrow", "ACK of that FIN  (inferred)", e, -1, "inferred", timed=False)
        elif e.kind == "reset":
            reset.add(e.conn)
            add("arrow", "RST" + (f"  ({e.error_type})" if e.error_type else ""), e, +1, "reset")
        elif e.kind in ("shutdown", "close"):
            if e.conn == 0:
                continue  # a datagram socket closing sends nothing to anyone
            if e.conn in reset or e.conn in fin_sent:
                continue  # the connection is already gone, or this end already said FIN
            if e.kind == "shutdown" and e.detail == "SHUT_RD":
                add("note", "shutdown(SHUT_RD): nothing is sent", e)
                continue
            if e.abort:
                reset.add(e.conn)
                add("arrow", "RST  (close with SO_LINGER 0)", e, -1, "reset")
                continue
            fin_sent.add(e.conn)
            why = f"shutdown({e.detail})" if e.kind == "shutdown" else "close()"
            add("arrow", f"FIN  ({why})", e, -1, "control")
            add("arrow", "ACK of that FIN  (inferred)", e, +1, "inferred", timed=False)
        elif e.kind == "timeout":
            add("note", "idle timeout" + (f": {e.detail}" if e.detail else ""), e)
        elif e.kind == "handshake":
            add("note", e.detail or "TLS handshake failed", e)
        elif e.kind == "error":
            add("note", "error: " + (e.detail or "the handler raised"), e)
        # "listen" and "stop" frame the whole trace; the lane heads stand for them.
    return rows


def sequence_diagram(trace, ax=None, conn=None, title=None, show_handshake=True):
    """Draw a conversation from a server's trace: client on the left, server on the right.

    One row per event, in the order they happened: rows are spaced evenly, not
    by time (loopback is so fast that rows spaced by real time would all sit
    on top of each other); the small number left of a row is when the server
    saw it, in ms since it started listening. The trace is the server's view,
    made of calls: the kernel's segments that no call sees (SYN, SYN+ACK, the
    ACK of each FIN) are drawn dotted and marked "inferred", and the ACKs of
    data are left out.

    conn: draw only this connection (numbered from 1); None draws all of them,
        each arrow tagged with its connection's number when there are several.
    show_handshake: draw SYN, SYN+ACK (inferred) and the handshake's end for each accepted connection.
    """
    events = _events_of(trace)
    _check_conn(conn, events)
    conns = sorted({e.conn for e in events if e.kind == "accept"})
    chosen = [e for e in events if (conn is None or e.conn == conn) and e.kind not in ("listen", "stop")]
    rows = _sequence_rows(chosen, show_handshake, numbered=conn is None and len(conns) > 1)
    if not rows:
        raise ValueError(
            "The trace holds no conversation to draw (only the server starting and stopping); "
            "connect a client and send something before drawing server.trace."
        )
    cut = len(rows) - MAX_ROWS
    if cut > 0:
        rows = rows[:MAX_ROWS]

    n = len(rows) + (1 if cut > 0 else 0)
    ax = new_axes(ax, (8.5, min(40.0, max(3.2, 0.34 * n + 1.6))))
    client_x, server_x = 0.0, 1.0
    # Text as big as the axes allow: a row's height, and the gap between the lanes for the longest label.
    width_pt, height_pt = axes_size(ax)
    longest = max(len(row["label"]) for row in rows)
    size = max(5.0, min(9.0, 0.5 * height_pt / (n + 2.5), 1.3 * (width_pt / 1.68) / longest))

    # Lane heads and lifelines.
    listen = next((e for e in events if e.kind == "listen"), None)
    server_name = "server" + (f"\n{listen.peer}" if listen and listen.peer else "")
    peers = sorted({e.peer for e in chosen if e.kind in ("accept", "recvfrom") and e.peer})
    client_name = "client" + (f"\n{peers[0]}" if len(peers) == 1 else "s" if len(peers) > 1 else "")
    for x, name, colour in ((client_x, client_name, TO_SERVER), (server_x, server_name, TO_CLIENT)):
        ax.plot([x, x], [-0.6, n - 0.2], color="0.55", linewidth=1.2, zorder=1)
        ax.text(x, -1.1, name, ha="center", va="center", fontsize=size + 1.5, fontweight="bold",
                bbox=dict(boxstyle="round,pad=0.4", facecolor="white", edgecolor=colour, linewidth=1.5))

    drop = 0.28  # an arrow falls this far while crossing: segments take time to travel
    zero = _listen_time(events)
    for i, row in enumerate(rows):
        if row["t"] is not None:
            ax.text(-0.08, i, f"{(row['t'] - zero) * 1000:.3f} ms", ha="right", va="center",
                    fontsize=size - 1, color="0.4", gid="sequence:time")
        if row["kind"] == "note":
            ax.text(server_x, i, shorten(row["label"], NOTE_CHARS), ha="center", va="center",
                    fontsize=size, gid="sequence:note", zorder=4,
                    bbox=dict(boxstyle="round,pad=0.3", facecolor=NOTE, edgecolor="0.5"))
            continue
        start, end = (client_x, server_x) if row["dir"] > 0 else (server_x, client_x)
        colour = (RESET if row["style"] == "reset" else INFERRED if row["style"] == "inferred"
                  else TO_SERVER if row["dir"] > 0 else TO_CLIENT)
        ax.annotate("", xy=(end, i + drop / 2), xytext=(start, i - drop / 2), gid="sequence:arrow",
                    arrowprops=dict(arrowstyle="-|>", color=colour, shrinkA=0, shrinkB=1,
                                    linewidth=2.2 if row["style"] == "reset" else 1.4,
                                    linestyle=_LINES[row["style"]]),
                    zorder=2)
        ax.text(0.5, i, row["label"], ha="center", va="center", fontsize=size, zorder=3, gid="sequence:label",
                fontweight="bold" if row["style"] in ("control", "reset") else "normal",
                color="0.35" if row["style"] == "inferred" else "0.1",
                family="monospace" if row["style"] == "data" else None,
                bbox=dict(boxstyle="round,pad=0.15", facecolor="white", edgecolor="none"))
    if cut > 0:
        ax.text(0.5, len(rows), f"... and {cut} more rows not drawn; pass conn= to draw one connection",
                ha="center", va="center", fontsize=size, style="italic", color="0.3")

    ax.set_xlim(-0.38, 1.3)
    ax.set_ylim(n - 0.2, -1.9)  # inverted: time runs down
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.set_ylabel("order of events, not time (numbers: ms since listen)", fontsize=size + 0.5)
    styles = {(row["style"], row["dir"]) for row in rows if row["kind"] == "arrow"}
    key = [(("data", 1), Line2D([], [], color=TO_SERVER, lw=1.4, label="data, client → server")),
           (("data", -1), Line2D([], [], color=TO_CLIENT, lw=1.4, label="data, server → client")),
           (("control",), Line2D([], [], color="0.3", lw=1.4, ls="--", label="handshake end / FIN, seen by a call")),
           (("inferred",), Line2D([], [], color=INFERRED, lw=1.4, ls=":", label="kernel segment, inferred")),
           (("reset",), Line2D([], [], color=RESET, lw=2.2, label="RST"))]
    handles = [line for want, line in key
               if any(style == want[0] and (len(want) == 1 or d == want[1]) for style, d in styles)]
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncols=len(handles),
              fontsize=size - 0.5, frameon=False)
    if title is None:
        datagrams = any(e.kind in ("recvfrom", "sendto") for e in chosen)
        title = (f"Connection #{conn}, as the server saw it" if conn is not None else
                 "Datagrams, as the server saw them" if datagrams else
                 "The conversation, as the server saw it")
    ax.set_title(title, fontsize=size + 3)
    return ax


# -- state diagram ---------------------------------------------------------------
# Where each state's box sits, in the RFC's arrangement: the passive open
# (LISTEN, SYN-RECEIVED) on the left, the active open (SYN-SENT) on the right,
# then the active close down the left and the passive close down the right.

# -- timeline --------------------------------------------------------------------------
def timeline(trace, ax=None, title=None, conn=None):
    """Plot the bytes each connection moved against time, so a learner sees when data flowed.

    Bytes the server received (client -> server) climb above the zero line,
    bytes it sent (server -> client) grow below it, both counted from the
    connection's start, against ms since the server started listening; an x
    marks each FIN. One colour per connection; datagrams count as "connection" 0.
    """
    events = _events_of(trace)
    _check_conn(conn, events)
    moving = {"recv": +1, "recvfrom": +1, "send": -1, "sendto": -1}
    numbers = sorted({e.conn for e in events if e.kind == "accept" or e.kind in moving})
    if conn is not None:
        numbers = [conn]
    if not numbers:
        raise ValueError(
            "The trace has no connection and no datagram, so no bytes moved; connect a client "
            "and send something before drawing server.trace."
        )
    ax = new_axes(ax, (8.5, 4.6))
    zero = _listen_time(events)
    labelled = len(numbers) <= 6
    fins = False
    highest = 1
    for k, number in enumerate(numbers):
        # A datagram socket's own close is the server stopping, not the end of a conversation.
        own = [e for e in events if e.conn == number
               and (e.kind in moving if number == 0 else e.kind not in ("listen", "stop"))]
        if not own:
            continue
        colour = CONNECTION_COLOURS[k % len(CONNECTION_COLOURS)]
        name = "datagrams" if number == 0 else f"#{number}"
        start, end = (own[0].t - zero) * 1000, (own[-1].t - zero) * 1000
        for way, style, marker, words, gid in ((+1, "-", "o", "client → server", "in"),
                                               (-1, "--", "s", "server → client", "out")):
            xs, ys, total = [start], [0], 0
            for e in own:
                if moving.get(e.kind) == way:
                    total += e.nbytes
                    xs.append((e.t - zero) * 1000)
                    ys.append(way * total)
            xs.append(end)
            ys.append(way * total)
            highest = max(highest, total)
            ax.step(xs, ys, where="post", color=colour, linestyle=style, linewidth=1.6,
                    label=f"{name} {words}" if labelled else None, gid=f"timeline:{number}:{gid}")
            ax.plot(xs[1:-1], ys[1:-1], linestyle="none", marker=marker, markersize=4, color=colour)
        totals = {+1: 0, -1: 0}
        server_fin = False
        for e in own:
            if e.kind == "reset":
                server_fin = True  # after a RST neither side sends a FIN any more
            elif e.kind in moving:
                totals[moving[e.kind]] += e.nbytes
            elif e.kind == "eof" or (e.kind in ("shutdown", "close") and not server_fin
                                     and e.detail != "SHUT_RD"):
                way = +1 if e.kind == "eof" else -1
                server_fin = server_fin or way < 0
                ax.plot([(e.t - zero) * 1000], [way * totals[way]], linestyle="none", marker="x", markersize=8,
                        markeredgewidth=2, color=colour, gid="timeline:fin")
                fins = True
    ax.axhline(0, color="0.3", linewidth=0.8)
    ax.set_ylim(-1.3 * highest, 1.3 * highest)  # room for the two captions inside the axes
    extra = [Line2D([], [], color="0.3", ls="none", marker="x", markersize=7, markeredgewidth=2,
                    label="FIN (that side closed)")] if fins else []
    if labelled:
        handles = ax.get_legend_handles_labels()[0] + extra
    else:
        handles = [Line2D([], [], color="0.3", ls="-", label="client → server (received)"),
                   Line2D([], [], color="0.3", ls="--", label="server → client (sent)")] + extra
    ax.legend(handles=handles, fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    ax.set_xlabel("time since the server started listening (ms)")
    ax.set_ylabel("bytes so far (counted from each connection's start)")
    for y, where, words in ((0.97, "top", "received by the server (client → server)"),
                            (0.03, "bottom", "sent by the server (server → client)")):
        ax.text(0.01, y, words, transform=ax.transAxes, ha="left", va=where, fontsize=8.5,
                style="italic", color="0.3")
    bytes_text = EngFormatter(unit="B")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda value, pos: bytes_text(abs(value), pos)))
    ax.yaxis.set_major_locator(MaxNLocator(nbins=8, integer=True, symmetric=True))
    ax.grid(True, color="0.9", linewidth=0.8)
    if title is None:
        many = f" ({len(numbers)} connections)" if len(numbers) > 1 else ""
        title = f"Bytes moved, as the server counted them{many}"
    ax.set_title(title)
    return ax
