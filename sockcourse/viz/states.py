"""The TCP state diagram of RFC 9293, drawn from sockcourse.tcpstates, with our sockets' states coloured."""

from __future__ import annotations

from collections.abc import Mapping

from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Patch, Rectangle

from ..protocols import tcpstates
from .style import PLAIN_BOX, ROLE_COLOURS, SPARE_COLOURS, axes_size, new_axes

# CLOSED is drawn twice, at the top and bottom right, as in the RFC.
_POSITIONS = {
    "CLOSED": (3.0, 0.0), "LISTEN": (3.0, -1.6), "SYN_RECEIVED": (0.0, -3.2),
    "SYN_SENT": (6.0, -3.2), "ESTABLISHED": (3.0, -4.8), "FIN_WAIT_1": (0.0, -6.4),
    "CLOSE_WAIT": (6.0, -6.4), "FIN_WAIT_2": (0.0, -8.0), "CLOSING": (3.0, -8.0),
    "LAST_ACK": (6.0, -8.0), "TIME_WAIT": (3.0, -9.6), "CLOSED@end": (6.0, -9.6),
}
_BOX_W, _BOX_H = 1.8, 0.62

# Where the name tags of highlighted sockets go; LISTEN's top is crowded by arrows.
_TAG_SLOTS = ("above left", "above right", "below left", "below right")
_TAG_SLOTS_ALONE = {"LISTEN": ("below right",)}

# Per arrow, found by looking at the picture: the curvature (arc3's rad), where
# the arrow leaves and enters as offsets from the boxes' centres (None: where
# the line between the centres crosses the box), and where its label sits as
# (fraction along the curve, dx, dy). Arrows not listed are straight lines
# between the centres, labelled in their middle.
_ARROW_SHAPES = {
    ("CLOSED", "LISTEN"): (0.0, (-0.3, -0.31), (-0.3, 0.31), (0.5, -0.62, 0.0)),
    ("LISTEN", "CLOSED"): (0.0, (0.3, 0.31), (0.3, -0.31), (0.5, 0.55, 0.0)),
    ("CLOSED", "SYN_SENT"): (-0.3, (0.9, 0.0), (0.35, 0.31), (0.5, 0.55, 0.25)),
    ("SYN_SENT", "CLOSED"): (0.25, (-0.2, 0.31), (0.6, -0.31), (0.5, 0.0, 0.0)),
    ("LISTEN", "SYN_SENT"): (-0.3, (0.9, -0.1), (-0.6, 0.31), (0.5, -0.25, -0.3)),
    ("LISTEN", "SYN_RECEIVED"): (0.3, (-0.9, -0.1), (0.0, 0.31), (0.5, -0.45, 0.3)),
    ("SYN_RECEIVED", "LISTEN"): (0.2, (0.6, 0.31), (-0.45, -0.31), (0.5, 0.2, -0.2)),
    ("SYN_SENT", "SYN_RECEIVED"): (0.0, None, None, (0.4, 0.0, 0.0)),
    ("SYN_RECEIVED", "ESTABLISHED"): (0.0, None, None, (0.5, -0.45, -0.25)),
    ("SYN_SENT", "ESTABLISHED"): (0.0, None, None, (0.5, 0.45, -0.25)),
    ("SYN_RECEIVED", "FIN_WAIT_1"): (0.0, None, None, (0.5, -0.5, 0.0)),
    ("ESTABLISHED", "FIN_WAIT_1"): (0.0, None, None, (0.5, 0.0, -0.3)),
    ("ESTABLISHED", "CLOSE_WAIT"): (0.0, None, None, (0.5, 0.0, -0.3)),
    ("FIN_WAIT_1", "FIN_WAIT_2"): (0.0, None, None, (0.5, -0.55, 0.0)),
    ("FIN_WAIT_1", "CLOSING"): (0.0, None, None, (0.5, 0.35, 0.25)),
    ("FIN_WAIT_2", "TIME_WAIT"): (0.2, None, None, (0.5, -0.5, -0.3)),
    ("CLOSE_WAIT", "LAST_ACK"): (0.0, None, None, (0.5, 0.55, 0.0)),
    ("CLOSING", "TIME_WAIT"): (0.0, None, None, (0.5, 0.55, 0.0)),
    ("LAST_ACK", "CLOSED"): (0.0, None, None, (0.5, 0.7, 0.0)),
    ("TIME_WAIT", "CLOSED"): (0.0, None, None, (0.5, 0.0, 0.3)),
}

# Captions in the margins, to say who usually walks down which side.
_CAPTIONS = (
    ((-1.35, -2.4), 90, "passive open (usually the server)"),
    ((7.35, -2.4), 270, "active open (usually the client)"),
    ((-1.35, -7.2), 90, "active close (the end that closes first)"),
    ((7.35, -7.2), 270, "passive close (the other end)"),
)


def _bezier(p0, p2, rad, s):
    """The point at fraction s of matplotlib's arc3 curve from p0 to p2."""
    (x1, y1), (x2, y2) = p0, p2
    cx = (x1 + x2) / 2 + rad * (y2 - y1)
    cy = (y1 + y2) / 2 - rad * (x2 - x1)
    a, b, c = (1 - s) ** 2, 2 * (1 - s) * s, s ** 2
    return a * x1 + b * cx + c * x2, a * y1 + b * cy + c * y2


def _arc_ratio(start, end, tail, head) -> float:
    """How arc3's rad must change so a curve between the shortened ends bends as far as the original did.

    arc3 puts its control point rad times the chord's length off the chord's middle; a shorter chord
    needs a larger rad for the same sideways distance.
    """
    full = ((end[0] - start[0]) ** 2 + (end[1] - start[1]) ** 2) ** 0.5
    short = ((head[0] - tail[0]) ** 2 + (head[1] - tail[1]) ** 2) ** 0.5
    return full / short if short else 1.0


def _edge(centre, toward, gap=0.03):
    """Where a ray from a box's centre toward a point leaves the box (a little outside it).

    Computed once here instead of letting matplotlib clip each arrow against
    its boxes, which it redoes on every draw and which cost most of a second.
    """
    (x, y), (tx, ty) = centre, toward
    dx, dy = tx - x, ty - y
    scale = min((_BOX_W / 2) / abs(dx) if dx else float("inf"), (_BOX_H / 2) / abs(dy) if dy else float("inf"))
    length = (dx * dx + dy * dy) ** 0.5 or 1.0
    return x + dx * scale + gap * dx / length, y + dy * scale + gap * dy / length


def _highlights(highlight) -> list[tuple[str, str, str]]:
    """(role, RFC state, name as given) for each socket to highlight; errors name bad input."""
    if highlight is None:
        return []
    if isinstance(highlight, str):
        pairs = [("highlighted", highlight)]
    elif isinstance(highlight, Mapping):
        pairs = []
        for role, state in highlight.items():
            if not isinstance(role, str):
                raise TypeError(
                    f"The keys of highlight must be role names such as 'client', but got {role!r}; "
                    f"for example highlight={{'client': 'FIN_WAIT2', 'server': 'CLOSE_WAIT'}}."
                )
            pairs.append((role, state))
    elif isinstance(highlight, (list, tuple)) and all(hasattr(r, "role") and hasattr(r, "state") for r in highlight):
        pairs, seen = [], {}
        for row in highlight:
            seen[row.role] = seen.get(row.role, 0) + 1
            pairs.append((row.role if seen[row.role] == 1 else f"{row.role} {seen[row.role]}", row.state))
    else:
        raise TypeError(
            f"highlight must be a dict of role -> state, a kernel.states() table or one state "
            f"name, but got {highlight!r} (type {type(highlight).__name__}); for example "
            f"highlight={{'client': 'FIN_WAIT2', 'server': 'CLOSE_WAIT'}}."
        )
    result = []
    for role, state in pairs:
        try:
            result.append((role, tcpstates.rfc_name(state), state))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"The state given for {role!r} in highlight is not known: {exc}") from None
    return result


def _role_colours(roles: list[str]) -> dict[str, str]:
    """A colour per role: the course's own for client/server/listening, spares for the rest."""
    colours, used, spare = {}, set(), iter(SPARE_COLOURS)
    for role in roles:
        colour = ROLE_COLOURS.get(role)
        if colour is None or colour in used:
            # A second client ("client 2") or an unknown role gets a colour of its own.
            colour = next((c for c in spare if c not in used), "0.6")
        colours[role] = colour
        used.add(colour)
    return colours


def _side(role: str) -> int:
    """0 for a role that usually opens passively (left of the figure), 1 for an active opener, 2 for others."""
    if role.startswith(("server", "listening")):
        return 0
    return 1 if role.startswith("client") else 2


def state_diagram(highlight=None, ax=None, title=None, notes=True):
    """Draw TCP's state diagram (RFC 9293 Figure 5) from `sockcourse.tcpstates`.

    highlight: which state each socket is in, coloured on the picture:
        a dict role -> state such as {"client": "FIN_WAIT2", "server": "CLOSE_WAIT"}
        (kernel or RFC spellings), a table from `sockcourse.kernel.states()`,
        or one state name.
    notes: print the RFC's three notes under the figure (the arrows say "(note 1)", "(note 2)").
    """
    marks = _highlights(highlight)
    ax = new_axes(ax, (11, 10))
    colours = _role_colours([role for role, _, _ in marks])
    by_state: dict[str, list[str]] = {}
    for role, state, _ in marks:
        by_state.setdefault(state, []).append(role)
    # A shared box is split by the path each socket took: the passive opener came down the left
    # of the figure and the active opener down the right, so their stripes sit on those sides.
    for roles in by_state.values():
        roles.sort(key=_side)

    # Sizes were chosen for the default figure; smaller axes get smaller text, within reason.
    width_pt, height_pt = axes_size(ax)
    scale = max(0.55, min(1.3, min(width_pt / 9.2, height_pt / 10.9) / 51))
    boxes = {}
    for key, (x, y) in _POSITIONS.items():
        state = key.split("@")[0]
        roles = by_state.get(state, [])
        face = colours[roles[0]] if roles else PLAIN_BOX
        box = FancyBboxPatch((x - _BOX_W / 2, y - _BOX_H / 2), _BOX_W, _BOX_H,
                             boxstyle="round,pad=0.02,rounding_size=0.12", facecolor=face,
                             edgecolor="0.1" if roles else "0.35", linewidth=2.4 if roles else 1.0,
                             zorder=3, gid=f"state:{key}")
        ax.add_patch(box)
        boxes[key] = box
        # A box shared by several sockets is split into vertical stripes, one colour each.
        for k, role in enumerate(roles[1:], start=1):
            stripe = Rectangle((x - _BOX_W / 2 + _BOX_W * k / len(roles), y - _BOX_H), _BOX_W / len(roles),
                               2 * _BOX_H, facecolor=colours[role], edgecolor="none", zorder=3,
                               gid=f"stripe:{key}:{role}")
            ax.add_patch(stripe)
            stripe.set_clip_path(box)
        ax.text(x, y, tcpstates.RFC_SPELLING[state], ha="center", va="center", fontsize=10 * scale,
                fontweight="bold", zorder=4)
        # Name tags at the box's corners, over the stripe of their colour when there are two.
        slots = _TAG_SLOTS if len(roles) > 1 else _TAG_SLOTS_ALONE.get(state, ("above right",))
        for role, slot in zip(roles, slots):
            right, above = slot.endswith("right"), slot.startswith("above")
            ax.text(x + (_BOX_W / 2 - 0.05) * (1 if right else -1),
                    y + (_BOX_H / 2 + 0.08) * (1 if above else -1), role,
                    ha="right" if right else "left", va="bottom" if above else "top", fontsize=8 * scale,
                    zorder=5, gid=f"role:{role}",
                    bbox=dict(boxstyle="round,pad=0.2", facecolor=colours[role], edgecolor="0.1"))

    for t in tcpstates.TRANSITIONS:
        target = "CLOSED@end" if t.target == "CLOSED" and t.source in ("LAST_ACK", "TIME_WAIT") else t.target
        rad, leave, enter, (s, dx, dy) = _ARROW_SHAPES.get((t.source, t.target), (0.0, None, None, (0.5, 0.0, 0.0)))
        (x1, y1), (x2, y2) = _POSITIONS[t.source], _POSITIONS[target]
        start = (x1 + leave[0], y1 + leave[1]) if leave else (x1, y1)
        end = (x2 + enter[0], y2 + enter[1]) if enter else (x2, y2)
        control = _bezier(start, end, rad, 0.5)
        control = (2 * control[0] - (start[0] + end[0]) / 2, 2 * control[1] - (start[1] + end[1]) / 2)
        tail = start if leave else _edge(start, control)
        head = end if enter else _edge(end, control)
        arrow = FancyArrowPatch(tail, head, arrowstyle="-|>", mutation_scale=13 * scale, shrinkA=0, shrinkB=0,
                                connectionstyle=f"arc3,rad={rad * _arc_ratio(start, end, tail, head)}",
                                color="0.25", linewidth=1.1, linestyle="--" if t.note == 2 else "-",
                                zorder=2, gid=f"transition:{t.source}->{t.target}")
        ax.add_patch(arrow)
        mx, my = _bezier(start, end, rad, s)
        text = (t.event.replace(" + ", " +\n") + (f"\n{t.action}" if t.action else "")
                + (f"\n(note {t.note})" if t.note else ""))
        ax.text(mx + dx, my + dy, text, ha="center", va="center", fontsize=7.2 * scale, color="0.15",
                zorder=4, linespacing=1.05, gid=f"label:{t.source}->{t.target}",
                bbox=dict(boxstyle="round,pad=0.12", facecolor="white", edgecolor="none", alpha=0.9))

    for (x, y), angle, text in _CAPTIONS:
        ax.text(x, y, text, ha="center", va="center", rotation=angle, fontsize=9 * scale, style="italic",
                color="0.35")

    if marks:
        handles = []
        for role, state, given in marks:
            spelled = given.strip().upper().replace("-", "_")
            shown = tcpstates.RFC_SPELLING[state]
            if spelled in tcpstates.KERNEL_NAMES and spelled != state:
                shown += f"  (the kernel says {spelled})"
            handles.append(Patch(facecolor=colours[role], edgecolor="0.1", label=f"{role}: {shown}"))
        ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncols=min(3, len(handles)),
                  fontsize=9, title="the sockets, as the kernel sees them", frameon=False)
    elif highlight is not None:
        ax.text(3.0, -10.25, "(no sockets to highlight: the table is empty)", ha="center", va="top",
                fontsize=9, style="italic", color="0.35")

    bottom = -10.3
    if notes:
        text = "\n".join(f"Note {n}: {words}" for n, words in sorted(tcpstates.NOTES.items()))
        ax.text(-1.5, -10.35, text, ha="left", va="top", fontsize=8 * scale, color="0.25", wrap=True,
                gid="rfc-notes")
        bottom = -11.5
    ax.set_xlim(-1.6, 7.6)
    ax.set_ylim(bottom, 0.6)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.set_title(title or "TCP connection states (RFC 9293, Figure 5)", fontsize=13)
    return ax


