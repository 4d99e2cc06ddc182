"""Cells a learner can read at a glance: no code cell over 25 lines, no markdown cell over 250 words."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
MOST_LINES, MOST_WORDS = 25, 250


def too_long(cells: list[dict]) -> list[str]:
    found = []
    for number, cell in enumerate(cells):
        text = "".join(cell["source"])
        if cell["cell_type"] == "code" and len(text.split("\n")) > MOST_LINES:
            found.append(f"cell {number}: {len(text.splitlines())} lines of code (at most {MOST_LINES})")
        elif cell["cell_type"] == "markdown" and len(text.split()) > MOST_WORDS:
            found.append(f"cell {number}: {len(text.split())} words (at most {MOST_WORDS})")
    return found


@pytest.mark.parametrize("path", sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")), ids=lambda p: p.name)
def test_every_cell_is_short_enough_to_read_at_a_glance(path):
    assert not too_long(json.loads(path.read_text(encoding="utf-8"))["cells"])


def test_the_check_finds_a_long_cell_of_each_kind():
    cells = [{"cell_type": "code", "source": "x = 1\n" * 26}, {"cell_type": "markdown", "source": "word " * 251},
             {"cell_type": "code", "source": "x = 1\n" * 24 + "x = 1"}, {"cell_type": "markdown", "source": "w " * 250}]
    assert [p.split(":")[0] for p in too_long(cells)] == ["cell 0", "cell 1"]
