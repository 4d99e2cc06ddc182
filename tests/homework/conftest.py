"""What the homework chapters' tests share: loading an answer file as a module, and a frozen heap."""

from __future__ import annotations

import gc
import importlib.util
from pathlib import Path

import pytest


def load(path: Path, prefix: str):
    """The Python file at `path` (a solution or a wrong answer) as a module named prefix_stem."""
    spec = importlib.util.spec_from_file_location(f"{prefix}_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def frozen_heap():
    """Keep pytest's own objects out of the collections the checks run after each condition.

    Each condition ends with gc.collect(); in a pytest process that walks some
    200,000 objects, a third of a second each time, which would be most of a
    chapter's run time and none of what it tests. A module asks for it with
    `pytestmark = pytest.mark.usefixtures("frozen_heap")`.
    """
    gc.collect()
    gc.freeze()
    yield
    gc.unfreeze()
