"""The picture of chapter 06's Java framing: what writeUTF sends, byte by byte, against plain UTF-8.

Drawn from `sockcourse.protocols.javautf.layout(text)`, so the picture and the
notebook's table can never disagree with the encoder the Python client uses.
"""

from __future__ import annotations

from functools import lru_cache

from matplotlib.patches import Rectangle

from ..core.errors import ArgumentTypeError
from ..protocols import javautf
from .style import NOTE, PALETTE, PLAIN_BOX, axes_size, new_axes, shorten

#: The most byte columns drawn (the wider of the two rows, both length prefixes included): at
#: 1400 px across, this many boxes still leave room for hex at 10 pt. A longer text is cut, with a note.
MAX_COLUMNS = 40

PREFIX = PALETTE["sky blue"]
DIFFERENT_UTF8 = PALETTE["orange"]
DIFFERENT_JAVA = PALETTE["bluish green"]
MARK = PALETTE["vermillion"]

_ROW_Y = {"utf8": 2.0, "modified": 0.0}  # bottom edge of each row of boxes
_BOX = 0.9                               # a box's height (and width, less a small gap)
_GAP = 0.35                              # between two characters' columns
_HEX_PT = 10
_LABEL_PT = 9.5


@lru_cache(maxsize=None)
def _font_has(code_point: int) -> bool:
    """Whether matplotlib's default font can draw this character (else the label says U+XXXX)."""
    from matplotlib.font_manager import FontProperties, findfont, get_font
    return get_font(findfont(FontProperties())).get_char_index(code_point) != 0


def _char_label(piece, width: int) -> str:
    point = piece.code_point
    if point == 0:
        return "NUL"
    if point < 0x20 or point == 0x7F:
        return repr(piece.char)[1:-1]          # \n, \t, \x01: the way Python writes it
    if point == 0x20:
        return "␣" if _font_has(0x2423) else "space"
    shown = piece.char if 0xD800 > point or point > 0xDFFF else None
    code = f"U+{point:04X}"
    if shown is None or point > 0xFFFF or not _font_has(point):
        return code if width >= 2 else "?"
    return f"{shown}\n{code}" if width >= 2 else shown


def _shown(text: str) -> str:
    """A text as Python writes it, with escapes for what the font cannot draw (emoji, lone surrogates)."""
    shown = shorten(text, 16)
    inner = "".join(c if c == "…" or (0x20 <= ord(c) < 0xD800 and c.isprintable() and _font_has(ord(c)))
                    else repr(c)[1:-1] if ord(c) < 0x20 or 0xD800 <= ord(c) <= 0xDFFF
                    else f"\\U{ord(c):08x}" if ord(c) > 0xFFFF else f"\\u{ord(c):04x}" for c in shown)
    quote = "'" if "'" not in inner else '"'
    return f"{quote}{inner}{quote}"


#: Why a character's bytes differ, in a few words for the picture (layout() has the full sentence).
_REASONS = {"nul": "no 0x00 byte", "supplementary": "2 surrogates", "surrogate": "no UTF-8 form"}


def _reason(piece) -> str:
    if piece.code_point == 0:
        return "nul"
    return "supplementary" if piece.code_point > 0xFFFF else "surrogate"


def _columns(pieces):
    """Each piece's column width in bytes, and how many pieces fit in MAX_COLUMNS."""
    used, kept = 2, 0  # the two length bytes come first
    widths = []
    for piece in pieces:
        width = max(len(piece.utf8 or b"?"), len(piece.modified))
        if used + width > MAX_COLUMNS:
            break
        widths.append(width)
        used += width
        kept += 1
    return widths, kept


def _row(ax, x0: float, data: bytes | None, width: int, row: str, colour: str, gid: str) -> None:
    """Draw the bytes of one character in one row, centred in its column."""
    y = _ROW_Y[row]
    if data is None:  # a lone surrogate has no UTF-8 form
        ax.add_patch(Rectangle((x0 + (1 - _BOX) / 2, y), width - (1 - _BOX), _BOX, facecolor="white", edgecolor=MARK,
                               linestyle="--", linewidth=1.2, gid=gid))
        ax.text(x0 + width / 2, y + _BOX / 2, "none", ha="center", va="center", fontsize=_LABEL_PT, color=MARK,
                gid=f"{gid}:text")
        return
    start = x0 + (width - len(data)) / 2
    for i, byte in enumerate(data):
        ax.add_patch(Rectangle((start + i + (1 - _BOX) / 2, y), _BOX, _BOX, facecolor=colour, edgecolor="0.3",
                               linewidth=0.8, gid=f"{gid}:{i}"))
        ax.text(start + i + 0.5, y + _BOX / 2, f"{byte:02X}", ha="center", va="center", fontsize=_HEX_PT,
                family="monospace", color="black", gid=f"{gid}:{i}:text")


def writeutf_layout(text: str, ax=None, title: str | None = None):
    """Draw what Java's writeUTF(text) sends, next to the plain UTF-8 of the same text.

    Top row: a 2-byte length and str.encode("utf-8"), as a naive client would
    send them. Bottom row: the 2-byte length and the modified UTF-8 of
    DataOutputStream.writeUTF. Columns line up by character; where the rows
    differ the column is shaded and labelled with both byte sequences. A text
    of more than about 40 bytes is cut, and the title says so.
    """
    if not isinstance(text, str):
        raise ArgumentTypeError(f"writeutf_layout() draws a str, but got {text!r:.60} (type {type(text).__name__}); "
                                f"for bytes that arrived, draw javautf.unframe(data)[0].")
    pieces = javautf.layout(text)
    widths, kept = _columns(pieces)
    total_columns = 2 + sum(widths) + _GAP * (kept + 1)
    ax = new_axes(ax, (min(14.0, max(9.0, 1.6 + 0.34 * total_columns)), 4.2))

    # The two length prefixes: each row counts its own bytes, so even the lengths differ.
    no_utf8 = any(piece.utf8 is None for piece in pieces)   # str.encode('utf-8') would raise
    lengths = {"utf8": None if no_utf8 else sum(len(piece.utf8) for piece in pieces),
               "modified": sum(len(piece.modified) for piece in pieces)}
    for row, length in lengths.items():
        _row(ax, 0.0, None if length is None else length.to_bytes(2, "big"), 2, row, PREFIX, f"{row}:length")
        ax.text(1.0, _ROW_Y[row] + (_BOX + 0.12 if row == "utf8" else -0.12),
                "length" if length is None else f"length {length:,}", ha="center",
                va="bottom" if row == "utf8" else "top", fontsize=_LABEL_PT, color="0.25", gid=f"{row}:length:label")

    x = 2 + _GAP
    marked_right = -1e9   # right edge of the last difference label, to stagger crowded ones
    levels = 0
    points_per_unit = axes_size(ax)[0] / (total_columns + 0.5 + 0.3)
    for index, (piece, width) in enumerate(zip(pieces, widths)):
        differs = piece.differs
        if differs:
            ax.add_patch(Rectangle((x - _GAP / 2, _ROW_Y["modified"] - 0.1), width + _GAP,
                                   _ROW_Y["utf8"] + _BOX + 0.2, facecolor=NOTE, edgecolor=MARK, linewidth=1.0,
                                   linestyle=(0, (4, 2)), zorder=0, gid=f"differs:{index}"))
        _row(ax, x, piece.utf8, width, "utf8", DIFFERENT_UTF8 if differs else PLAIN_BOX, f"utf8:{index}")
        _row(ax, x, piece.modified, width, "modified", DIFFERENT_JAVA if differs else PLAIN_BOX,
             f"modified:{index}")
        ax.text(x + width / 2, (_ROW_Y["modified"] + _BOX + _ROW_Y["utf8"]) / 2, _char_label(piece, width),
                ha="center", va="center", fontsize=_LABEL_PT if width >= 2 else 11, color="black",
                linespacing=1.3, gid=f"char:{index}")
        if differs:
            label = f"{piece.label}: {piece.utf8_hex}\nvs {piece.modified_hex}\n({_REASONS[_reason(piece)]})"
            half = 0.6 * _LABEL_PT * max(map(len, label.splitlines())) / 2 / points_per_unit
            centre = x + width / 2
            level = 1 if centre - half < marked_right else 0   # two crowded labels: the second goes lower
            marked_right = centre + half if level == 0 else marked_right
            levels = max(levels, level + 1)
            ax.text(centre, _ROW_Y["modified"] - 0.25 - 1.1 * level, label, ha="center", va="top",
                    fontsize=_LABEL_PT, family="monospace", color=MARK, linespacing=1.15, gid=f"label:{index}")
        x += width + _GAP

    ax.set_xlim(-0.3, x + 0.2)
    ax.set_ylim(_ROW_Y["modified"] - (0.6 if levels == 0 else 0.4 + 1.1 * levels), _ROW_Y["utf8"] + _BOX + 0.5)
    ax.set_yticks([_ROW_Y["utf8"] + _BOX / 2, _ROW_Y["modified"] + _BOX / 2],
                  ["plain UTF-8\nstr.encode('utf-8')", "modified UTF-8\nJava's writeUTF"])
    ax.tick_params(axis="y", length=0, labelsize=10)
    ax.set_xticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)
    differing = sum(piece.differs for piece in pieces)
    cut = f" (the first {kept} of {len(pieces)} characters)" if kept < len(pieces) else ""
    verdict = {0: "no character differs", 1: "1 character differs (shaded)"}.get(
        differing, f"{differing} characters differ (shaded)")
    ax.set_xlabel(f"bytes in the order they are sent, 1 box = 1 byte, lined up by character{cut}; {verdict}",
                  fontsize=10)
    plain = "cannot be encoded" if lengths["utf8"] is None else f"2 + {lengths['utf8']:,} bytes"
    ax.set_title(title or f"What writeUTF({_shown(text)}) sends: 2 + {lengths['modified']:,} bytes\n"
                 f"below, Java's modified UTF-8; above, plain UTF-8 of the same text ({plain})", fontsize=12)
    return ax
