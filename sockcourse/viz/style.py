"""Shared look of the course's pictures: the palette, figure creation, text shortening.

Colours come from the Okabe-Ito palette, chosen to stay distinct for readers
with the common kinds of colour blindness; line styles repeat what the colour
says, so a grey-scale print still reads.
"""

from __future__ import annotations

#: The Okabe-Ito palette (Okabe and Ito, "Color Universal Design", 2008).
PALETTE = {
    "orange": "#E69F00", "sky blue": "#56B4E9", "bluish green": "#009E73", "yellow": "#F0E442",
    "blue": "#0072B2", "vermillion": "#D55E00", "reddish purple": "#CC79A7", "black": "#000000",
}

#: Arrow colours of the sequence diagram, by direction and meaning.
TO_SERVER = PALETTE["blue"]
TO_CLIENT = PALETTE["vermillion"]
RESET = PALETTE["reddish purple"]
NOTE = "#FFF6B8"  # a pale yellow, like a sticky note; the text on it stays black

#: Box colours of the state diagram, one per role of a socket.
ROLE_COLOURS = {
    "client": PALETTE["sky blue"],
    "server": PALETTE["orange"],
    "listening": PALETTE["bluish green"],
}
SPARE_COLOURS = (PALETTE["reddish purple"], PALETTE["yellow"], PALETTE["vermillion"], PALETTE["blue"])
PLAIN_BOX = "#F2F2F2"

#: Line colours of the timeline, one per connection (yellow is too pale for a line).
CONNECTION_COLOURS = (PALETTE["blue"], PALETTE["vermillion"], PALETTE["bluish green"],
                      PALETTE["reddish purple"], PALETTE["orange"], PALETTE["sky blue"], PALETTE["black"])

#: A sequence diagram draws at most this many rows; a longer trace is cut, with a note.
MAX_ROWS = 120

PREVIEW_CHARS = 26
NOTE_CHARS = 36



def new_axes(ax, size):
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt  # only here: importing pyplot picks a backend
    _, ax = plt.subplots(figsize=size, layout="constrained")
    return ax


def axes_size(ax) -> tuple[float, float]:
    """The axes' width and height in points (before any layout engine adjusts them)."""
    box = ax.get_position()
    return box.width * ax.figure.get_figwidth() * 72, box.height * ax.figure.get_figheight() * 72



def shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


