"""Tests of sockcourse.viz.modbus.frame_layout: the picture is drawn from the protocol's tables.

The frames are built by sockcourse.protocols.modbus, some of them the spec's
worked examples; the tests read back what was drawn (boxes, their order and
widths, texts), not pixels. Well under a second once matplotlib is loaded.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import pytest
from matplotlib.colors import to_hex

from sockcourse.core.errors import ArgumentError
from sockcourse.protocols import modbus
from sockcourse.viz import modbus as viz_modbus
from sockcourse.viz.style import PALETTE


def boxes(ax) -> list:
    return [patch for patch in ax.patches if (patch.get_gid() or "").startswith("field:")]


def texts(ax, prefix: str) -> dict[str, str]:
    return {text.get_gid().split(":", 1)[1]: text.get_text() for text in ax.texts
            if (text.get_gid() or "").startswith(prefix)}


def test_without_a_frame_it_draws_the_header_and_a_pdu_from_the_tables():
    ax = viz_modbus.frame_layout()
    names = [patch.get_gid() for patch in boxes(ax)]
    assert names == [f"field:MBAP:{field.name}" for field in modbus.MBAP_FIELDS] + \
        [f"field:PDU:{field.name}" for field in modbus.PDU_FIELDS]
    widths = [patch.get_width() + 0.08 for patch in boxes(ax)][:4]
    assert widths == pytest.approx([field.size for field in modbus.MBAP_FIELDS])
    assert "MBAP header: 7 bytes" in [text.get_text() for text in ax.texts]
    assert texts(ax, "meaning:")["transaction"] == "transaction identifier"
    assert ax.get_title()


def test_a_request_shows_every_byte_and_value_of_the_spec_example():
    frame = modbus.read_holding_registers(7, 1, start=0x6B, count=3)  # 6.3's example
    ax = viz_modbus.frame_layout(frame)
    shown = texts(ax, "bytes:")
    assert shown == {"transaction": "00 07", "protocol": "00 00", "length": "00 06", "unit": "01",
                     "function": "03", "start": "00 6B", "count": "00 03"}
    assert bytes.fromhex(" ".join(shown.values())) == frame
    assert texts(ax, "value:")["start"] == "107"
    assert "read holding registers request" in ax.get_title()
    assert any("counts these 6 bytes" in text.get_text() for text in ax.texts)


def test_a_response_groups_register_bytes_and_lists_the_values():
    ax = viz_modbus.frame_layout(modbus.response(0x03, 7, 1, registers=[555, 0, 100]))
    assert texts(ax, "bytes:")["registers"] == "02 2B  00 00  00 64"
    assert texts(ax, "value:")["registers"] == "555, 0, 100"
    assert [patch.get_gid() for patch in boxes(ax)][-2:] == ["field:PDU:byte_count", "field:PDU:registers"]


def test_an_exception_response_is_marked_and_named():
    ax = viz_modbus.frame_layout(modbus.response(0x01, 3, 1, exception=2))  # section 7's example
    colours = {patch.get_gid(): to_hex(patch.get_facecolor()) for patch in boxes(ax)}
    assert colours["field:PDU:exception"] == PALETTE["vermillion"].lower()
    assert "illegal" in texts(ax, "value:")["exception"]
    assert texts(ax, "bytes:")["function"] == "81"
    assert "exception response to read coils" in ax.get_title()


def test_a_long_field_is_drawn_shortened_and_says_how_many():
    ax = viz_modbus.frame_layout(modbus.response(0x03, 1, 1, registers=list(range(125))))
    assert texts(ax, "bytes:")["registers"].endswith("…")
    assert "125 in all" in texts(ax, "value:")["registers"]
    assert boxes(ax)[-1].get_width() + 0.08 == pytest.approx(viz_modbus.MAX_WIDTH)


def test_a_five_byte_read_coils_pdu_is_drawn_as_the_kind_asked_for():
    frame = bytes.fromhex("0001 0000 0006 01 01 03 CD 6B 05")  # 6.1's response
    assert [p.get_gid() for p in boxes(viz_modbus.frame_layout(frame, kind="response"))][-1] == "field:PDU:coils"
    assert [p.get_gid() for p in boxes(viz_modbus.frame_layout(frame))][-1] == "field:PDU:count"


def test_it_draws_on_the_axes_given_with_readable_text(tmp_path):
    fig, ax = plt.subplots(figsize=(12, 4))
    assert viz_modbus.frame_layout(modbus.write_single_register(1, 1, 1, 3), ax=ax) is ax
    assert all(text.get_fontsize() >= 9 for text in ax.texts)
    assert not ax.axison
    fig.savefig(tmp_path / "frame.png")
    assert (tmp_path / "frame.png").stat().st_size > 1000


def test_what_is_not_a_frame_gets_a_sentence():
    with pytest.raises(ArgumentError, match="7-byte MBAP header"):
        viz_modbus.frame_layout(b"\x00\x01")
    with pytest.raises(TypeError):
        viz_modbus.frame_layout("00 01 00 00 00 06 01 03 00 6B 00 03")
