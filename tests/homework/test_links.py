"""Every chapter with homework links to its student copy, and the copy is there for a learner to open."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sockcourse import homework

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("chapter", homework.available())
def test_the_chapter_s_last_section_links_to_its_homework(chapter):
    cells = json.loads((ROOT / "notebooks" / f"{chapter}.ipynb").read_text())["cells"]
    last = "".join(cells[-1]["source"])
    assert cells[-1]["cell_type"] == "markdown" and last.startswith("## Homework"), last[:200]
    assert f"](homework/{chapter}.ipynb)" in last
    assert (ROOT / "notebooks" / "homework" / f"{chapter}.ipynb").is_file()
    for question in homework.chapter(chapter).QUESTIONS:
        assert f"`{question.answer}`" in last, f"{chapter}'s homework section does not name {question.answer}"


def test_every_source_has_its_chapter_module_and_student_copy():
    sources = sorted(p.stem for p in (ROOT / "homework-source").glob("*.ipynb"))
    copies = sorted(p.stem for p in (ROOT / "notebooks" / "homework").glob("*.ipynb"))
    assert sources == copies == homework.available()
