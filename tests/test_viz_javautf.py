"""Tests of the writeUTF picture (sockcourse.viz.javautf): drawn from javautf.layout(), read back as boxes and text.

The tests read what was drawn (patches, texts, their sizes), not pixels.
About 1 s.
"""

from __future__ import annotations

import warnings

import matplotlib.pyplot as plt
import pytest
from matplotlib.patches import Rectangle

from sockcourse.core.errors import ArgumentTypeError
from sockcourse.protocols import javautf
from sockcourse.viz import javautf as picture

pytestmark = pytest.mark.timeout(60)

EMOJI = "\N{GRINNING FACE}"


def texts(ax) -> list[str]:
    return [text.get_text() for text in ax.texts]


def boxes(ax, row: str) -> list[str]:
    """The hex written in the boxes of one row, in order: "utf8" or "modified", length prefix first."""
    return [text.get_text() for text in ax.texts
            if (text.get_gid() or "").startswith(f"{row}:") and text.get_gid().endswith(":text")]


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.mark.parametrize("text", ["", "hello", "naïve café", "\0", "a\0\0b", EMOJI * 3, "中文 \uffff",
                                  "x\ud800y", "tab\there", "z" * 200])
def test_draws_without_error_or_warning(text):
    with warnings.catch_warnings():
        warnings.simplefilter("error")   # a glyph the font lacks would warn: the picture must not need one
        ax = picture.writeutf_layout(text)
        ax.figure.canvas.draw()
    assert ax.get_title() and ax.get_xlabel()
    assert all(t.get_fontsize() >= 9 for t in ax.texts)
    assert ax.get_figure().get_figwidth() <= 14.0   # 1400 px at 100 dpi


def test_the_bytes_in_the_boxes_are_the_encoders():
    text = "naïve café\0" + EMOJI
    ax = picture.writeutf_layout(text)
    assert " ".join(boxes(ax, "modified")) == javautf.spaced_hex(javautf.frame(text))
    plain = text.encode("utf-8")
    assert " ".join(boxes(ax, "utf8")) == javautf.spaced_hex(len(plain).to_bytes(2, "big") + plain)


def test_differences_are_marked_and_labelled():
    ax = picture.writeutf_layout("a\0b" + EMOJI)
    labels = [t.get_text() for t in ax.texts if (t.get_gid() or "").startswith("label:")]
    assert len(labels) == 2
    assert "00" in labels[0] and "C0 80" in labels[0] and "NUL" in labels[0]
    assert "F0 9F 98 80" in labels[1] and "ED A0 BD ED B8 80" in labels[1]
    shaded = [p.get_gid() for p in ax.patches if (p.get_gid() or "").startswith("differs:")]
    assert shaded == ["differs:1", "differs:3"]   # the NUL and the emoji, not a or b
    assert "2 characters differ" in ax.get_xlabel()


def test_a_lone_surrogate_has_no_utf8_box():
    ax = picture.writeutf_layout("\udfff")
    assert "none" in texts(ax) and "cannot be encoded" in ax.get_title()
    assert boxes(ax, "modified") == ["00", "03", "ED", "BF", "BF"]


def test_a_long_text_is_cut_and_says_so():
    ax = picture.writeutf_layout("z" * 200)
    assert "the first 38 of 200 characters" in ax.get_xlabel()
    assert len(boxes(ax, "modified")) == picture.MAX_COLUMNS
    assert "2 + 200 bytes" in ax.get_title()   # the title still counts what is sent


def test_draws_on_the_axes_it_is_given():
    _, (top, bottom) = plt.subplots(2, figsize=(12, 7))
    assert picture.writeutf_layout("hi", ax=bottom) is bottom
    assert not top.patches and bottom.patches
    assert sum(isinstance(p, Rectangle) for p in bottom.patches) == 8   # 2 rows of 2 length bytes + 2 letters


def test_refuses_bytes_with_a_sentence():
    with pytest.raises(ArgumentTypeError, match=r"writeutf_layout\(\) draws a str.*unframe"):
        picture.writeutf_layout(b"\x00\x02hi")
