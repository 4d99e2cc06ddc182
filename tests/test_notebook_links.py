"""Links from one notebook to another land: the notebook exists, and its anchor does too.

A chapter points ahead with links such as `07_options.ipynb#so-reuseaddr`. The
anchor is either an explicit `<a id="so-reuseaddr"></a>` in a markdown cell of
the target, or a heading, which JupyterLab turns into an id by replacing its
spaces with hyphens ("## 3 · Death" becomes "3-·-Death").
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
LINK = re.compile(r"\]\(((?!https?:|mailto:)[^)#\s]*\.ipynb)(?:#([^)\s]+))?\)")


def markdown_cells(path: Path) -> list[str]:
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return ["".join(c["source"]) for c in cells if c["cell_type"] == "markdown"]


def anchors(texts: list[str]) -> set[str]:
    found = set()
    for text in texts:
        found.update(re.findall(r'<a id="([^"]+)"', text))
        for line in text.splitlines():
            heading = re.match(r"#{1,6} (.+)", line)
            if heading:
                found.add(heading.group(1).strip().replace(" ", "-"))
    return found


def broken_links(source: Path, texts: list[str]) -> list[str]:
    problems = []
    for text in texts:
        for target, fragment in LINK.findall(text):
            path = (source.parent / target).resolve()
            if not path.exists():
                problems.append(f"{source.name} links {target}, which does not exist")
            elif fragment and fragment not in anchors(markdown_cells(path)):
                problems.append(f"{source.name} links {target}#{fragment}, but {target} has no such anchor")
    return problems


ALL = sorted(NOTEBOOKS.glob("*.ipynb")) + sorted((NOTEBOOKS / "homework").glob("*.ipynb"))


@pytest.mark.parametrize("path", ALL, ids=lambda p: str(p.relative_to(NOTEBOOKS)))
def test_links_between_notebooks_land(path):
    assert not broken_links(path, markdown_cells(path))


def test_the_check_finds_a_missing_notebook_and_a_missing_anchor():
    source = NOTEBOOKS / "01_tcp.ipynb"
    wrong = ["see [chapter 9](09_nothing.ipynb)", "see [it](07_options.ipynb#no-such-anchor)",
             "fine: [07](07_options.ipynb#so-linger) and [01](01_tcp.ipynb#3-·-Death)"]
    problems = broken_links(source, wrong)
    assert len(problems) == 2
    assert "09_nothing.ipynb, which does not exist" in problems[0]
    assert "no-such-anchor" in problems[1]
