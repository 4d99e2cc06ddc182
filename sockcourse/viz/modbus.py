"""The picture of chapter 06's Modbus/TCP frames: the MBAP header and the PDU, field by field.

Drawn from the tables of `sockcourse.protocols.modbus` (MBAP_FIELDS and the
PDU layouts) through its `decode()`, so the picture cannot disagree with the
frames the course builds and parses: a field moved in the table moves here.
Draws on the Axes it is given (`ax=`) and returns it; never shows or
touches rcParams.
"""

from __future__ import annotations

import textwrap

from matplotlib.patches import FancyBboxPatch

from ..protocols import modbus
from .style import PALETTE, PLAIN_BOX, new_axes

#: Box colours: the header, the function code, the data, an exception's code.
COLOURS = {"MBAP": PALETTE["sky blue"], "function": PALETTE["orange"], "data": PALETTE["bluish green"],
           "exception": PALETTE["vermillion"]}
#: The widest a variable field is drawn, in byte widths (a 250-byte field is not drawn to scale).
MAX_WIDTH = 6
#: Items of a long field spelled out before "…".
SHOWN_ITEMS = 4

_HEIGHT = 1.0


def _values_text(part: modbus.Part) -> str:
    value, name = part.value, part.field.name
    if value is None:
        return "(cut short)"
    if name == "function":
        text = f"0x{value:02X}"
        if value & modbus.EXCEPTION_FLAG:
            return f"{text}\n= 0x{value & ~modbus.EXCEPTION_FLAG:02X}+0x80"
        return text
    if name == "exception":
        return f"{value}:\n" + "\n".join(textwrap.wrap(modbus.exception_text(value), 12))
    if isinstance(value, tuple):
        if name == "coils":
            bits = "".join("1" if on else "0" for on in value[:8])
            return f"first coils: {bits}" + ("…" if len(value) > 8 else "")
        shown = ", ".join(str(item) for item in value[:SHOWN_ITEMS])
        more = f", … ({len(value)} in all)" if len(value) > SHOWN_ITEMS else ""
        return f"{shown}{more}"
    return str(value)


def _hex_text(raw: bytes, width: float, field: modbus.Field) -> str:
    """The bytes in hex as the spec's tables print them (upper case), a register's two bytes together."""
    room = max(1, int(width * 1.6))  # bytes whose hex fits on one line of the box
    step = 2 if field.size is None and field.code == "H" else 1
    items = [raw[at:at + step].hex(" ").upper() for at in range(0, len(raw), step)]
    fits = max(1, room // step)
    gap = "  " if step > 1 else " "
    if len(items) > fits:
        return gap.join(items[: max(1, fits - 1)]) + " …"
    return gap.join(items)


def _short(field: modbus.Field, width: float) -> str:
    """The first words of a field's meaning, wrapped to its box: what an empty layout shows."""
    words = field.meaning.split(":")[0].split(";")[0]
    return "\n".join(textwrap.wrap(words, max(8, int(width * 11))))


def _generic_parts() -> list[tuple[str, modbus.Field, int]]:
    """The fields of any frame when none is given: the header, then a function code and its data."""
    parts = [("MBAP", field, field.offset) for field in modbus.MBAP_FIELDS]
    return parts + [("PDU", field, modbus.MBAP_SIZE + field.offset) for field in modbus.PDU_FIELDS]


def frame_layout(frame: bytes | None = None, ax=None, *, kind: str | None = None, title: str | None = None):
    """Draw a Modbus/TCP frame as boxes: each field's name, offset and size, and its bytes if a frame is given.

    frame: a whole frame (from read_holding_registers(), a FrameReader, ...),
        or None for the layout of any frame (the header, then a function
        code and its data).
    kind: "request", "response" or "exception" (None: guessed from the bytes;
        a 5-byte read coils PDU reads as a request unless kind="response").
    A brace shows what the MBAP length field counts: the unit identifier and
    the PDU (Modbus Messaging on TCP/IP Implementation Guide 1.0b, 3.1.3).
    """
    if frame is not None:
        parts = modbus.decode(frame, kind)  # raises a sentence for what is not a frame
        rows = [(part.where, part.field, part.start, part) for part in parts]
        pdu = bytes(frame)[modbus.MBAP_SIZE:]
        function = pdu[0] if pdu else None
        guessed = kind or modbus.guess_kind(pdu)
    else:
        rows = [(where, field, start, None) for where, field, start in _generic_parts()]
        function, guessed = None, None
    widths = []
    for _, field, _, part in rows:
        size = field.size if field.size is not None else (len(part.raw) if part is not None else 3)
        widths.append(max(1.0, min(float(size), MAX_WIDTH)) if field.size is None else float(size))
    ax = new_axes(ax, (max(8.0, 0.95 * sum(widths) + 1.2), 3.3))
    x = 0.0
    spans = {"MBAP": [None, None], "PDU": [None, None]}
    for (where, field, start, part), width in zip(rows, widths):
        colour = _colour(where, field, function)
        ax.add_patch(FancyBboxPatch((x + 0.04, 0), width - 0.08, _HEIGHT, boxstyle="round,pad=0.02",
                                    facecolor=colour, edgecolor="0.3", gid=f"field:{where}:{field.name}"))
        ax.text(x + width / 2, _HEIGHT + 0.12, field.name, ha="center", va="bottom", fontsize=9.5,
                fontweight="bold")
        if part is not None:
            ax.text(x + width / 2, _HEIGHT * 0.7, _hex_text(part.raw, width, field), ha="center", va="center",
                    fontsize=9.5, family="monospace", gid=f"bytes:{field.name}")
            ax.text(x + width / 2, _HEIGHT * 0.3, _values_text(part), ha="center", va="center", fontsize=9,
                    gid=f"value:{field.name}")
        else:
            ax.text(x + width / 2, _HEIGHT / 2, _short(field, width), ha="center", va="center", fontsize=9,
                    gid=f"meaning:{field.name}")
        size = len(part.raw) if part is not None else field.size
        at = f"byte {start}" if size == 1 else (f"bytes {start}–{start + size - 1}" if size else f"from byte {start}")
        ax.text(x + width / 2, -0.12, f"{at}\n{size} B" if size else f"{at}\n0 to {modbus.MAX_PDU - 1} B",
                ha="center", va="top",
                fontsize=9, color="0.25")
        first, _ = spans[where]
        spans[where] = [x if first is None else first, x + width]
        x += width
    _brace(ax, *spans["MBAP"], _HEIGHT + 0.62, f"MBAP header: {modbus.MBAP_SIZE} bytes")
    _brace(ax, *spans["PDU"], _HEIGHT + 0.62, _pdu_label(function, guessed, frame))
    unit_left = sum(widths[: [field.name for _, field, _, _ in rows].index("unit")])
    _length_brace(ax, unit_left, x, frame)
    ax.set_xlim(-0.3, x + 0.3)
    ax.set_ylim(-1.4, _HEIGHT + 1.2)
    ax.set_axis_off()
    ax.set_title(title or _title(function, guessed, frame), fontsize=12)
    return ax


def _colour(where: str, field: modbus.Field, function) -> str:
    if where == "MBAP":
        return COLOURS["MBAP"]
    if field.name == "function":
        return COLOURS["function"]
    if field.name == "exception":
        return COLOURS["exception"]
    return COLOURS["data"] if function is not None or field.name == "data" else PLAIN_BOX


def _brace(ax, left, right, y, text) -> None:
    if left is None:
        return
    ax.annotate("", xy=(right - 0.04, y), xytext=(left + 0.04, y),
                arrowprops=dict(arrowstyle="|-|", color="0.2", linewidth=1.1, shrinkA=0, shrinkB=0,
                                mutation_scale=4))
    _label(ax, left, right, y + 0.08, text, "bottom", 10)


def _length_brace(ax, left, right, frame) -> None:
    y = -0.95
    ax.annotate("", xy=(right - 0.04, y), xytext=(left + 0.04, y),
                arrowprops=dict(arrowstyle="<->", color="0.2", linewidth=1.1))
    if frame is not None:
        counted = len(frame) - modbus.MBAP_SIZE + 1
        text = f"the length field counts these {counted} bytes: unit identifier + PDU"
    else:
        text = "the length field counts these bytes: unit identifier + PDU"
    _label(ax, left, right, y - 0.1, text, "top", 9.5)


def _label(ax, left, right, y, text, va, size) -> None:
    # A label wider than a narrow span is right-aligned to it, so it stays inside the picture.
    if right - left >= 0.09 * len(text):
        ax.text((left + right) / 2, y, text, ha="center", va=va, fontsize=size)
    else:
        ax.text(right, y, text, ha="right", va=va, fontsize=size)


def _pdu_label(function, kind, frame) -> str:
    if frame is None:
        return "PDU: function code + data"
    size = len(frame) - modbus.MBAP_SIZE
    if kind == "exception" and function is not None:
        return f"PDU: exception response, {size} bytes"
    name = modbus.FUNCTIONS.get(function)
    return f"PDU: {name} {kind}, {size} bytes" if name else f"PDU: function 0x{function:02X}, {size} bytes"


def _title(function, kind, frame) -> str:
    if frame is None:
        return "A Modbus/TCP frame: a 7-byte MBAP header, then the PDU (big-endian)"
    if kind == "exception":
        answered = modbus.FUNCTIONS.get(function & ~modbus.EXCEPTION_FLAG, f"function 0x{function & 0x7F:02X}")
        return f"A Modbus/TCP exception response to {answered}: {len(frame)} bytes"
    name = modbus.FUNCTIONS.get(function, f"function 0x{function:02X}")
    return f"A Modbus/TCP {name} {kind}: {len(frame)} bytes"
