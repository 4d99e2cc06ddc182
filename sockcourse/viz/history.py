"""Pictures for chapter 00 (history): a timeline, the layer models, socket names as bits, RFC 123's ICP.

The events of the timeline are data (`MILESTONES`), each with its date, how
precisely the source gives that date, and the source itself, so the picture
never shows more certainty than the record has. The layer picture places the
socket API where it sits for TCP and UDP: between the application and the
transport layer, which is also the line between a program and the kernel.
The ladder of RFC 123's Initial Connection Protocol is drawn from the RFC's
own calls (`ICP_STEPS`). No text in these pictures is smaller than 9 points.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass

from matplotlib.lines import Line2D
from matplotlib.patches import Polygon, Rectangle

from .style import PALETTE, axes_size, new_axes

#: Colours of the timeline's two tracks.
TRACK_COLOURS = {"wire": PALETTE["blue"], "api": PALETTE["vermillion"]}
TRACK_NAMES = {
    "wire": "on the wire: protocols (RFCs)",
    "api": "in the program: the socket API and its standards",
}
_PRECISIONS = ("day", "month", "year")


@dataclass(frozen=True)
class Milestone:
    """One event in the history of sockets.

    precision says how much of `when` the source gives: "day", "month" or
    "year" (then the day and month of `when` mean nothing). track is "wire"
    for protocols, "api" for the programming interface and its standards.
    """

    when: datetime.date
    precision: str
    title: str
    detail: str
    track: str
    source: str

    def __post_init__(self):
        if not isinstance(self.when, datetime.date):
            raise TypeError(f"A milestone's date must be a datetime.date, but got {self.when!r}; "
                            f"for example datetime.date(1983, 1, 1).")
        if self.precision not in _PRECISIONS:
            raise ValueError(f"Unknown precision {self.precision!r} for {self.title!r}; expected one of "
                             f"{', '.join(map(repr, _PRECISIONS))} (use 'year' when only the year is known).")
        if self.track not in TRACK_COLOURS:
            raise ValueError(f"Unknown track {self.track!r} for {self.title!r}; expected 'wire' (a protocol) "
                             f"or 'api' (the programming interface or a standard for it).")

    @property
    def x(self) -> float:
        """Where the event sits on a year axis: the middle of the day, month or year it names."""
        start = datetime.date(self.when.year, 1, 1)
        days = (datetime.date(self.when.year + 1, 1, 1) - start).days
        if self.precision == "year":
            return self.when.year + 0.5
        if self.precision == "month":
            first = datetime.date(self.when.year, self.when.month, 1)
            following = (datetime.date(self.when.year + 1, 1, 1) if self.when.month == 12
                         else datetime.date(self.when.year, self.when.month + 1, 1))
            middle = (first - start).days + (following - first).days / 2
            return self.when.year + middle / days
        return self.when.year + ((self.when - start).days + 0.5) / days

    @property
    def date_text(self) -> str:
        """The date as precisely as the source gives it: '7 May 1971', 'Dec 1974' or '1983'."""
        if self.precision == "year":
            return str(self.when.year)
        month = self.when.strftime("%b")
        if self.precision == "month":
            return f"{month} {self.when.year}"
        return f"{self.when.day} {month} {self.when.year}"


def _m(year, month, day, precision, title, detail, track, source):
    return Milestone(datetime.date(year, month, day), precision, title, detail, track, source)


#: The events of chapter 00, each checked against the source named with it.
MILESTONES = (
    _m(1970, 2, 12, "day", "RFC 33", "a pair of sockets names a connection", "wire",
       "https://www.rfc-editor.org/rfc/rfc33"),
    _m(1971, 5, 7, "day", "RFC 147", "restated: a 32-bit number + its host", "wire",
       "https://www.rfc-editor.org/rfc/rfc147"),
    _m(1972, 5, 30, "day", "RFC 349", "first list: Telnet 1, echo 7, discard 9", "wire",
       "https://www.rfc-editor.org/rfc/rfc349"),
    _m(1972, 12, 22, "day", "RFC 433", "the list made official, 40-bit names", "wire",
       "https://www.rfc-editor.org/rfc/rfc433"),
    _m(1974, 12, 1, "month", "RFC 675", "first TCP: one connection, both ways", "wire",
       "https://www.rfc-editor.org/rfc/rfc675"),
    _m(1981, 9, 1, "month", "RFC 793", "TCP, the standard: address + port", "wire",
       "https://www.rfc-editor.org/rfc/rfc793"),
    _m(1983, 1, 1, "day", "flag day", "ARPANET: NCP → TCP/IP (RFC 801)", "wire",
       "https://www.rfc-editor.org/rfc/rfc801"),
    _m(1989, 10, 1, "month", "RFC 1122", "the four Internet layers", "wire",
       "https://www.rfc-editor.org/rfc/rfc1122"),
    _m(2018, 8, 1, "month", "RFC 8446", "TLS 1.3", "wire", "https://www.rfc-editor.org/rfc/rfc8446"),
    _m(2021, 5, 1, "month", "RFC 9000", "QUIC, over UDP", "wire", "https://www.rfc-editor.org/rfc/rfc9000"),
    # The interim test releases 4.1a (1982) and 4.1c (1983) came first; August is the official release.
    _m(1983, 8, 1, "month", "4.2BSD", "Berkeley sockets API\nUC Berkeley", "api",
       "http://www.tuhs.org/cgi-bin/utree.pl?file=4.2BSD"),
    _m(1988, 1, 1, "year", "POSIX.1", "first POSIX standard\nno sockets in it yet", "api",
       "https://www.opengroup.org/austin/papers/backgrounder.html"),
    _m(1993, 1, 20, "day", "Winsock 1.1", "sockets on Windows", "api",
       "Windows Sockets 1.1 specification, dated 20 January 1993"),
    _m(1997, 2, 1, "month", "X/Open XNS 5", "sockets in UNIX 98", "api",
       "https://pubs.opengroup.org/onlinepubs/9694979699/front.htm"),
    _m(2001, 1, 1, "year", "POSIX.1-2001", "sockets join POSIX.1", "api",
       "https://pubs.opengroup.org/onlinepubs/007904875/xrat/xbd_chap01.html"),
    _m(2017, 12, 19, "day", "AF_UNIX on Windows 10", "announced, build 17063", "api",
       "https://devblogs.microsoft.com/commandline/af_unix-comes-to-windows/"),
)


# -- the timeline ----------------------------------------------------------------------------
_FONT_PT = 10.5
_MIN_FONT_PT = 9.0   # the smallest text any picture here draws
_GAP_PT = 7.0        # free space between two labels on one side, in points
_AXIS_X = 0.5        # the time axis, in fractions of the axes' width
_LABEL_DX = 0.04     # from the axis to the labels' near edge, in the same fractions
_MARGIN_YEARS = 2.5  # room above the first and below the last event


def _renderer(fig):
    get = getattr(fig.canvas, "get_renderer", None)
    return get() if get is not None else fig._get_renderer()


def _heights(texts, fig) -> list[float]:
    """The height of each text in points, as the renderer will draw it (0 for an empty one)."""
    renderer = _renderer(fig)
    return [text.get_window_extent(renderer).height * 72 / fig.dpi if text.get_text() else 0.0 for text in texts]


def _pack(targets, ups, downs, low, high, gap):
    """Label anchors near their targets, kept in order, with `gap` between neighbours.

    All in points growing downwards; label i reaches `ups[i]` above its anchor
    and `downs[i]` below it. Consecutive labels that would overlap are moved
    together as a block to the mean of their wishes (the least-squares choice),
    then the whole column is pushed inside [low, high] if it fits there.
    """
    n = len(targets)
    step = [0.0] + [downs[i - 1] + gap + ups[i] for i in range(1, n)]  # anchor-to-anchor distances
    blocks = []  # [first index, last index, anchor of the first]
    for i in range(n):
        blocks.append([i, i, targets[i]])
        while len(blocks) > 1:
            (a0, a1, qa), (b0, b1, qb) = blocks[-2], blocks[-1]
            if qa + sum(step[a0 + 1:a1 + 1]) + step[b0] <= qb:
                break
            offsets = [sum(step[a0 + 1:k + 1]) for k in range(a0, b1 + 1)]
            blocks[-2:] = [[a0, b1, sum(targets[k] - off for k, off in zip(range(a0, b1 + 1), offsets))
                            / (b1 - a0 + 1)]]
    anchors = []
    for first, last, q in blocks:
        anchors += [q + sum(step[first + 1:k + 1]) for k in range(first, last + 1)]
    if n:
        anchors[0] = max(anchors[0], low + ups[0])
        for i in range(1, n):
            anchors[i] = max(anchors[i], anchors[i - 1] + step[i])
        anchors[-1] = min(anchors[-1], high - downs[-1])
        for i in range(n - 2, -1, -1):
            anchors[i] = min(anchors[i], anchors[i + 1] - step[i + 1])
    return anchors


def _check_milestones(milestones) -> list[Milestone]:
    if isinstance(milestones, Milestone):
        milestones = [milestones]
    try:
        items = list(milestones)
    except TypeError:
        raise TypeError(f"Expected a list of Milestone, but got {milestones!r} (type {type(milestones).__name__}); "
                        f"leave milestones out to draw sockcourse.viz.MILESTONES.") from None
    for item in items:
        if not isinstance(item, Milestone):
            raise TypeError(f"Expected a list of Milestone, but it holds {item!r} (type {type(item).__name__}); "
                            f"build events with sockcourse.viz.history.Milestone(...).")
    if not items:
        raise ValueError("The list of milestones is empty, so there is nothing to draw; "
                         "leave milestones out to draw sockcourse.viz.MILESTONES.")
    return items


def _timeline_axes(ax):
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt  # only here: importing pyplot picks a backend
    fig = plt.figure(figsize=(11, 10.5))
    # Fixed margins, not a layout engine: the labels are packed in points, so the
    # axes' height must be known before drawing.
    return fig.add_axes((0.03, 0.08, 0.94, 0.83))


def history_timeline(milestones=None, ax=None, title=None):
    """Draw milestones on a vertical time axis: protocols on its right, the programming interface on its left.

    Time runs downwards. Each label is joined to its date by a thin line and
    labels on one side never overlap: where events crowd, their labels spread
    out and the lines fan. A filled dot is a date known to the day or month;
    an open dot is a year only (drawn in the middle of that year).
    """
    items = _check_milestones(MILESTONES if milestones is None else milestones)
    ax = _timeline_axes(ax)
    fig = ax.figure
    width_pt, height_pt = axes_size(ax)
    years = [m.x for m in items]
    top, bottom = min(years) - _MARGIN_YEARS, max(years) + _MARGIN_YEARS
    ax.set_ylim(bottom, top)  # earliest at the top
    ax.set_xlim(0, 1)
    along = ax.get_yaxis_transform()  # x in fractions of the axes, y in years
    per_year = height_pt / (bottom - top)

    font = _FONT_PT
    for attempt in range(3):  # shrink the text if a side does not fit in the axes' height
        heads = [ax.text(0, 0, f"{m.date_text} · {m.title}", transform=along, fontsize=font, fontweight="bold",
                         va="bottom", gid=f"milestone:{i}") for i, m in enumerate(items)]
        details = [ax.text(0, 0, m.detail, transform=along, fontsize=font * 0.95, va="top", color="0.2",
                           linespacing=1.15, gid=f"milestone-detail:{i}") for i, m in enumerate(items)]
        ups, downs = _heights(heads, fig), _heights(details, fig)
        need = max(sum(ups[i] + downs[i] + _GAP_PT for i, m in enumerate(items) if m.track == track)
                   for track in TRACK_COLOURS)
        if need <= height_pt or font <= _MIN_FONT_PT / 0.95 or attempt == 2:
            break
        for text in heads + details:
            text.remove()
        # Never below the smallest readable size: a taller figure is the cure then, not tiny text.
        font = max(_MIN_FONT_PT / 0.95, font * max(0.7, height_pt / need))

    for track, sign in (("wire", 1), ("api", -1)):
        chosen = sorted((i for i, m in enumerate(items) if m.track == track), key=lambda i: years[i])
        anchors = _pack([(years[i] - top) * per_year for i in chosen], [ups[i] for i in chosen],
                        [downs[i] for i in chosen], 0.0, height_pt, _GAP_PT)
        colour = TRACK_COLOURS[track]
        x_label = _AXIS_X + sign * _LABEL_DX
        for i, anchor in zip(chosen, anchors):
            m, y = items[i], top + anchor / per_year
            for text in (heads[i], details[i]):
                text.set_position((x_label, y))
                text.set_horizontalalignment("left" if sign > 0 else "right")
            ax.add_line(Line2D([_AXIS_X, _AXIS_X + sign * (_LABEL_DX - 0.008)], [m.x, y], transform=along,
                               color=colour, linewidth=1.1, zorder=2, gid=f"leader:{i}"))
            ax.plot([_AXIS_X], [m.x], transform=along, marker="o", markersize=6.5, color=colour, zorder=5,
                    markerfacecolor=colour if m.precision != "year" else "white", markeredgewidth=1.6,
                    linestyle="none", gid=f"dot:{i}")
        ax.text(x_label, 1.005, TRACK_NAMES[track], transform=ax.transAxes, fontsize=11, fontweight="bold",
                color=colour, ha="left" if sign > 0 else "right", va="bottom", gid=f"track:{track}")

    # The time axis, with the years written at both edges of the picture.
    ax.annotate("", xy=(_AXIS_X, bottom), xytext=(_AXIS_X, top), xycoords=along, textcoords=along, zorder=3,
                arrowprops=dict(arrowstyle="-|>", color="0.3", linewidth=1.6))
    for year in range(int(top // 5 + 1) * 5, int(bottom) + 1, 5):
        ax.add_line(Line2D([0.045, 0.955], [year, year], transform=along, color="0.85", linewidth=0.8,
                           linestyle=(0, (2, 3)), zorder=0))
        for x, ha in ((0.0, "left"), (1.0, "right")):
            ax.text(x, year, str(year), transform=along, ha=ha, va="center", fontsize=9, color="0.4")
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)

    handles = [Line2D([], [], marker="o", linestyle="none", color="0.3", markersize=7,
                      label="date known to the day or month"),
               Line2D([], [], marker="o", linestyle="none", color="0.3", markerfacecolor="white",
                      markeredgewidth=1.6, markersize=7, label="only the year is known (drawn mid-year)")]
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.005), ncols=2, fontsize=9.5,
              frameon=False)
    first, last = min(m.when.year for m in items), max(m.when.year for m in items)
    ax.set_title(title or f"Where sockets come from: {len(items)} milestones, {first}–{last} (time runs down)",
                 fontsize=13, pad=24)
    return ax


# -- the layer models ------------------------------------------------------------------------
_OSI = ("Physical", "Data link", "Network", "Transport", "Session", "Presentation", "Application")
# name, lowest OSI layer, highest OSI layer (1 = physical), examples
_INTERNET = (
    ("Link", 1, 2, "Ethernet, Wi-Fi, ARP"),
    ("Internet", 3, 3, "IP (v4 and v6), ICMP"),
    ("Transport", 4, 4, "TCP, UDP"),
    ("Application", 5, 7, "HTTP, SMTP, FTP, DNS, SSH\nTLS libraries"),
)
_OSI_X, _NET_X, _COL_W = 0.0, 4.4, 3.2
_API_Y = 4.0  # the socket API: the line between OSI layers 4 and 5
_USER_SPACE = "#E8F3FB"
_KERNEL = "#FDF0DC"


def layer_models(ax=None, title=None):
    """Draw OSI's seven layers beside the four of RFC 1122, and where the socket API sits.

    The API is the line between the application layer (your program) and the
    transport layer (the kernel's TCP and UDP).
    """
    ax = new_axes(ax, (11, 7.2))
    width_pt, height_pt = axes_size(ax)
    scale = max(0.6, min(1.3, min(width_pt / 11.0, height_pt / 7.2) / 56))

    def font(size):  # sizes follow the axes, never below the smallest readable one
        return max(_MIN_FONT_PT, size * scale)

    # Where the code runs: the program above the API, the kernel (and the card) below it.
    ax.add_patch(Rectangle((-0.35, _API_Y), 12.0, 7.45 - _API_Y, facecolor=_USER_SPACE, edgecolor="none",
                           zorder=0, gid="region:user"))
    ax.add_patch(Rectangle((-0.35, -0.25), 12.0, _API_Y + 0.25, facecolor=_KERNEL, edgecolor="none",
                           zorder=0, gid="region:kernel"))

    for number, name in enumerate(_OSI, start=1):
        y = number - 1
        ax.add_patch(Rectangle((_OSI_X, y + 0.06), _COL_W, 0.88, facecolor="white", edgecolor="0.3",
                               linewidth=1.0, zorder=2, gid=f"osi:{number}"))
        ax.text(_OSI_X + 0.2, y + 0.5, str(number), ha="left", va="center", fontsize=font(11),
                color="0.45", fontweight="bold", zorder=3)
        ax.text(_OSI_X + _COL_W / 2 + 0.15, y + 0.5, name, ha="center", va="center", fontsize=font(11),
                zorder=3, gid=f"osi-name:{number}")

    colours = (PALETTE["reddish purple"], PALETTE["bluish green"], PALETTE["blue"], PALETTE["orange"])
    for (name, low, high, examples), colour in zip(_INTERNET, colours):
        y0, y1 = low - 1 + 0.06, high - 0.06
        ax.add_patch(Rectangle((_NET_X, y0), _COL_W, y1 - y0, facecolor=colour, alpha=0.55, edgecolor="0.2",
                               linewidth=1.2, zorder=2, gid=f"internet:{name}"))
        # The name above the middle, the examples below it; both stay inside a one-layer box.
        middle = (y0 + y1) / 2
        lines = examples.count("\n") + 1
        ax.text(_NET_X + _COL_W / 2, middle + 0.05 + 0.1 * lines, name, ha="center", va="center",
                fontsize=font(12), fontweight="bold", zorder=3, gid=f"internet-name:{name}")
        ax.text(_NET_X + _COL_W / 2, middle + 0.05 - 0.08 * lines, examples, ha="center", va="top",
                fontsize=font(10), zorder=3, linespacing=1.2, gid=f"internet-examples:{name}")
        # A band from the OSI layers this layer covers to the layer itself.
        ax.add_patch(Polygon([(_OSI_X + _COL_W, y0), (_NET_X, y0), (_NET_X, y1), (_OSI_X + _COL_W, y1)],
                             closed=True, facecolor=colour, alpha=0.25, edgecolor="none", zorder=1,
                             gid=f"band:{name}"))

    # QUIC is a transport protocol (RFC 9000's title says so) whose code runs in the program, over a
    # UDP socket: it gets the transport's colour but sits above the line, where its code runs.
    quic = (_NET_X + 0.15, _API_Y + 0.16), _COL_W - 0.3, 0.78
    ax.add_patch(Rectangle(*quic, facecolor="white", edgecolor="none", zorder=3))  # so it reads like Transport
    ax.add_patch(Rectangle(*quic, facecolor=colours[2], alpha=0.55, edgecolor="0.2", linewidth=1.0,
                           linestyle=(0, (4, 2)), zorder=3, gid="quic"))
    ax.text(_NET_X + _COL_W / 2, _API_Y + 0.55, "QUIC: a transport (RFC 9000),\nrun in the program over UDP",
            ha="center", va="center", fontsize=font(9.5), zorder=4, linespacing=1.15, gid="quic-label")

    ax.text(_OSI_X + _COL_W / 2, 7.15, "OSI reference model\n(ISO/IEC 7498-1)", ha="center", va="bottom",
            fontsize=font(11), fontweight="bold")
    ax.text(_NET_X + _COL_W / 2, 7.15, "Internet architecture\n(RFC 1122)", ha="center", va="bottom",
            fontsize=font(11), fontweight="bold")

    # The socket API itself, across both models.
    ax.add_line(Line2D([-0.35, 11.65], [_API_Y, _API_Y], color="0.1", linewidth=3, linestyle=(0, (6, 3)),
                       zorder=4, gid="socket-api"))
    ax.text(9.6, _API_Y, "the socket API\nsocket()  bind()  listen()\naccept()  connect()\nsend()  recv()  close()",
            ha="center", va="center", fontsize=font(10), family="monospace", zorder=5, linespacing=1.3,
            gid="socket-api-label",
            bbox=dict(boxstyle="round,pad=0.45", facecolor="white", edgecolor="0.1", linewidth=1.5))
    ax.text(9.6, 6.2, "your program\n(user space)", ha="center", va="center", fontsize=font(11),
            style="italic", color="0.2", gid="region-label:user")
    ax.text(9.6, 2.55, "raw sockets (SOCK_RAW, AF_PACKET)\nreach below the transport layer",
            ha="center", va="center", fontsize=font(9.5), color="0.25", gid="raw-note")
    ax.text(9.6, 1.4, "the operating system's kernel\n(the network card is at the bottom)",
            ha="center", va="center", fontsize=font(11), style="italic", color="0.2", gid="region-label:kernel")

    ax.set_xlim(-0.4, 11.7)
    ax.set_ylim(-0.3, 8.1)
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.set_title(title or "Seven layers or four, and where the socket API sits", fontsize=13)
    return ax


# -- socket names as bits --------------------------------------------------------------------
_BITS_XLIM = (-0.5, 57.0)  # in bit cells: 48 cells, then the notes on the right


def _whole(value, name, bits, hint):
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2 ** bits:
        raise ValueError(f"{name} must be a whole number from 0 to {2 ** bits - 1:,} ({bits} bits), "
                         f"but got {value!r}; {hint}.")
    return value


def _ipv4_endpoint(address):
    if not (isinstance(address, tuple) and len(address) >= 2):
        raise TypeError(f"address must be an (IPv4 address, port) pair such as ('127.0.0.1', 7), "
                        f"but got {address!r}; pass a socket's getsockname() or getpeername().")
    try:
        ip = ipaddress.IPv4Address(address[0])
    except (ipaddress.AddressValueError, ValueError):
        raise ValueError(f"{address[0]!r} is not an IPv4 address; this picture draws the 32 bits of one, "
                         f"such as '127.0.0.1' (an IPv6 address would need 128).") from None
    return ip, _whole(address[1], "The port", 16, "a TCP port has 16 bits")


def _draw_bits(ax, value, nbits, x0, y, fields, row, font):
    """Cells of one row, most significant bit first; fields are (name, nbits, colour) from the left."""
    bits = format(value, f"0{nbits}b")
    colours = [colour for _, n, colour in fields for _ in range(n)]
    for k, (bit, colour) in enumerate(zip(bits, colours)):
        ax.add_patch(Rectangle((x0 + k, y), 1, 1, facecolor=colour, edgecolor="0.35", linewidth=0.6,
                               zorder=2, gid=f"bit:{row}:{k}"))
        ax.text(x0 + k + 0.5, y + 0.5, bit, ha="center", va="center", fontsize=font, zorder=3,
                family="monospace", gid=f"bitvalue:{row}:{k}")
    for k in range(0, nbits + 1, 8):  # byte boundaries
        ax.add_line(Line2D([x0 + k, x0 + k], [y, y + 1], color="0.1", linewidth=1.6, zorder=3))


def _brace(ax, x0, x1, y, text, below, font, gid, colour="0.15"):
    """A bracket under (or over) cells x0..x1 with its text."""
    tip = y - 0.25 if below else y + 0.25
    ax.add_line(Line2D([x0 + 0.1, x0 + 0.1, x1 - 0.1, x1 - 0.1], [y, tip, tip, y], color=colour, linewidth=1.2,
                       zorder=2))
    ax.text((x0 + x1) / 2, tip - 0.12 if below else tip + 0.12, text, ha="center", va="top" if below else "bottom",
            fontsize=font, zorder=3, gid=gid, color=colour)


def _direction_bit(ax, x, y, text, font, row):
    """The red box round a direction bit, and its note to the right of the row."""
    ax.add_patch(Rectangle((x, y), 1, 1, facecolor="none", edgecolor=PALETTE["vermillion"], linewidth=3,
                           zorder=4, gid=f"direction-bit:{row}"))
    ax.annotate(text, xy=(x + 1, y + 0.5), xytext=(41.2, y + 1.55), fontsize=font, color=PALETTE["vermillion"],
                ha="left", va="center", gid=f"direction-note:{row}",
                arrowprops=dict(arrowstyle="-|>", color=PALETTE["vermillion"], linewidth=1.3))


def socket_name_bits(host=1, socket_number=7, address=("127.0.0.1", 7), ax=None, title=None):
    """Draw one socket's name three ways, bit by bit: RFC 33 (1970), RFC 123/147/433 (1971-72), TCP/IPv4.

    host, socket_number: the 8-bit host and the 32-bit socket number of the
        ARPANET of 1971-72 (RFC 433: 24 site-specific bits, then the 8-bit AEN).
        RFC 33's name of 1970 holds the same bits in another order: a 24-bit
        user number, the host, then the AEN (its Figure 3), so the picture's
        top row puts the host in the middle.
    address: an (IPv4 address, port) pair, such as a socket's getsockname().
    """
    _whole(host, "The host", 8, "RFC 433 gives the host 8 bits")
    _whole(socket_number, "The socket number", 32, "RFC 147 makes a socket number 32 bits")
    ip, port = _ipv4_endpoint(address)
    ax = new_axes(ax, (10, 4.2))
    width_pt, _ = axes_size(ax)
    unit = width_pt / (_BITS_XLIM[1] - _BITS_XLIM[0])  # one bit cell, in points

    def font(cells):  # a size relative to the cells, never below the smallest readable one
        return max(_MIN_FONT_PT, cells * unit)

    host_c, site_c, aen_c = PALETTE["sky blue"], "#F6D9A5", PALETTE["orange"]
    ip_c, port_c = "#9CC9E6", PALETTE["bluish green"]
    user, aen = socket_number >> 8, socket_number & 0xFF
    sends = socket_number % 2 == 1
    rfc33, ncp, tcp = 10.9, 5.3, 0.0

    ax.text(0, rfc33 + 1.35, "1970, RFC 33: user number + HOST + AEN = 40 bits", ha="left", va="bottom",
            fontsize=font(0.95), fontweight="bold", gid="row-title:rfc33")
    _draw_bits(ax, (user << 16) | (host << 8) | aen, 40, 0, rfc33,
               [("user", 24, site_c), ("host", 8, host_c), ("aen", 8, aen_c)], "rfc33", font(0.78))
    _brace(ax, 0, 24, rfc33, f"user number (24 bits) = {user:,}", True, font(0.8), "brace:rfc33:user")
    _brace(ax, 24, 32, rfc33, f"HOST = {host}", True, font(0.8), "brace:rfc33:host")
    _brace(ax, 32, 40, rfc33, f"AEN = {aen}", True, font(0.8), "brace:rfc33:aen")
    _direction_bit(ax, 39, rfc33,
                   f"AEN's low bit {socket_number % 2}: {'send' if sends else 'receive'} (RFC 33)",
                   font(0.8), "rfc33")

    ax.text(0, ncp + 2.3, "1971–72, RFCs 123, 147, 433: host + socket number = 40 bits", ha="left",
            va="bottom", fontsize=font(0.95), fontweight="bold", gid="row-title:ncp")
    _draw_bits(ax, (host << 32) | socket_number, 40, 0, ncp,
               [("host", 8, host_c), ("site", 24, site_c), ("aen", 8, aen_c)], "ncp", font(0.78))
    _brace(ax, 8, 40, ncp + 1, "socket number: 32 bits (RFC 147)", False, font(0.8), "brace:ncp:socket")
    _brace(ax, 0, 8, ncp, f"host = {host}", True, font(0.8), "brace:ncp:host")
    _brace(ax, 8, 32, ncp, f"site-specific (24 bits) = {user:,}", True, font(0.8), "brace:ncp:site")
    _brace(ax, 32, 40, ncp, f"AEN (8 bits) = {aen}", True, font(0.8), "brace:ncp:aen")
    _direction_bit(ax, 39, ncp,
                   f"lowest bit {socket_number % 2}: " + ("odd, a send socket" if sends else "even, a receive socket"),
                   font(0.8), "ncp")

    ax.text(0, tcp + 1.35, "TCP over IPv4, 1981 to today: IP address + port = 48 bits", ha="left", va="bottom",
            fontsize=font(0.95), fontweight="bold", gid="row-title:tcp")
    _draw_bits(ax, (int(ip) << 16) | port, 48, 0, tcp, [("ip", 32, ip_c), ("port", 16, port_c)], "tcp", font(0.78))
    _brace(ax, 0, 32, tcp, f"IPv4 address: 32 bits (RFC 791) = {ip}", True, font(0.8), "brace:tcp:ip")
    _brace(ax, 32, 48, tcp, f"port: 16 bits (RFC 793) = {port}", True, font(0.8), "brace:tcp:port")
    ax.text(48.6, tcp + 0.5, "no direction bit:\none connection\ncarries both ways", ha="left", va="center",
            fontsize=font(0.8), color="0.25", style="italic", gid="duplex-note")

    ax.set_xlim(*_BITS_XLIM)
    ax.set_ylim(tcp - 1.5, rfc33 + 2.5)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.set_title(title or "One socket's name three ways, bit by bit (most significant bit first)",
                 fontsize=max(13, font(1.05)))
    return ax


# -- RFC 123's Initial Connection Protocol ---------------------------------------------------------
#: RFC 123 (April 1971), "A Family of ICPs": each row is (who calls, RFC 123's calls written with the
#: letters L, S, U, and what crosses the network then as (from, to, text) or None). The sizes of the
#: RFC's calls are left out; the letters are filled in with the numbers given to the picture.
ICP_STEPS = (
    ("server", "Listen (socket = L)", None),
    ("user", "Init (local = U, foreign = L)", ("user", "server", "asks to connect U = {U} with L = {L}")),
    ("server", "Send (socket = L, data = S)", ("server", "user", "S = {S}, sent over L → U")),
    ("both", "Close (socket = U) | Close (socket = L)", None),
    ("both", "Init (local = U+1, foreign = S) | Init (local = S, foreign = U+1)",
     ("user", "server", "U+1 = {U1} → S = {S}: the user's data")),
    ("both", "Init (local = U, foreign = S+1) | Init (local = S+1, foreign = U)",
     ("server", "user", "S+1 = {S1} → U = {U}: the server's data")),
)


def initial_connection(L=1, U=6, S=88, ax=None, title=None):
    """Draw RFC 123's Initial Connection Protocol as a ladder: a user process (left) and a server (right).

    L is the server's well-advertised send socket (odd: 1 is Telnet's), U the
    user's receive socket and S the even number the server hands back (both
    even, as RFC 123 requires); U and S are example numbers. Time runs down.
    """
    _whole(L, "L", 32, "L is a 32-bit socket number")
    _whole(U, "U", 32, "U is a 32-bit socket number")
    _whole(S, "S", 32, "S is a 32-bit socket number")
    if L % 2 == 0:
        raise ValueError(f"L must be odd, but got {L}; RFC 123: 'L is a send socket (odd)', "
                         f"such as 1, Telnet's.")
    for name, value in (("U", U), ("S", S)):
        if value % 2 or value + 1 >= 2 ** 32:
            raise ValueError(f"{name} must be an even number below {2 ** 32 - 1:,}, but got {value}; "
                             f"RFC 123 makes U and S receive sockets (even), and {name}+1 the send socket next to it.")
    numbers = {"L": L, "U": U, "S": S, "U1": U + 1, "S1": S + 1}
    ax = new_axes(ax, (10, 5.2))
    x_of = {"user": 0.0, "server": 1.0}
    rows = len(ICP_STEPS)
    small = _MIN_FONT_PT + 0.5

    for side, label in (("user", "user process (say, Telnet)\nits sockets U and U+1"),
                        ("server", "server process (say, the logger)\nits sockets L, S and S+1")):
        x = x_of[side]
        ax.add_line(Line2D([x, x], [-0.4, rows - 0.3], color="0.35", linewidth=1.6, zorder=1, gid=f"lifeline:{side}"))
        ax.text(x, -0.55, label, ha="center", va="bottom", fontsize=10.5, fontweight="bold", gid=f"role:{side}")

    for row, (who, calls, wire) in enumerate(ICP_STEPS):
        y = row + 0.35
        parts = calls.split(" | ") if who == "both" else [calls]
        sides = ("user", "server") if who == "both" else (who,)
        for side, call in zip(sides, parts):
            left = side == "user"
            ax.text(x_of[side] + (-0.03 if left else 0.03), y, call, ha="right" if left else "left", va="center",
                    fontsize=small, family="monospace", color="0.2", gid=f"call:{row}:{side}")
        if wire is not None:
            source, target, text = wire
            colour = PALETTE["blue"] if source == "user" else PALETTE["vermillion"]
            ax.annotate("", xy=(x_of[target], y + 0.28), xytext=(x_of[source], y + 0.28), zorder=3,
                        arrowprops=dict(arrowstyle="-|>", color=colour, linewidth=1.8), gid=f"arrow:{row}")
            ax.text(0.5, y + 0.2, text.format(**numbers), ha="center", va="bottom", fontsize=10.5, color=colour,
                    gid=f"wire:{row}")
    ax.text(0.5, rows + 0.05, "the last two rows: two one-way connections, one in each direction "
            "(today one TCP connection carries both)", ha="center", va="top", fontsize=small, color="0.25",
            style="italic", gid="pair-note")

    ax.set_xlim(-0.75, 1.75)
    ax.set_ylim(rows + 0.7, -1.35)  # time runs down
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.set_title(title or f"RFC 123's Initial Connection Protocol (1971): listen on L = {L}, talk on new sockets",
                 fontsize=13)
    return ax
