"""Homework: exercises a student solves in a notebook and checks against real sockets.

`from sockcourse.homework import ch01 as check` in a homework notebook, then
`check.q1(read_frames)` after an answer. Each chapter's module (`ch01` ...)
holds its questions; `core` is what they are made of; `assign` builds the
student copies and the solutions from `homework-source/`; `grade` grades a
folder of submitted notebooks, each question in a fresh kernel.

The chapter modules load on first use, so importing this package is quick.
"""

from __future__ import annotations

import importlib
import importlib.util

from ..core.errors import ArgumentError

#: The homework of each chapter, by the chapter's name, and the module that checks it.
CHAPTERS = {
    "00_history": "sockcourse.homework.ch00",
    "01_tcp": "sockcourse.homework.ch01",
    "02_udp": "sockcourse.homework.ch02",
    "03_unix": "sockcourse.homework.ch03",
    "04_async": "sockcourse.homework.ch04",
    "05_tls": "sockcourse.homework.ch05",
    "06_languages": "sockcourse.homework.ch06",
    "07_options": "sockcourse.homework.ch07",
}

__all__ = ["CHAPTERS", "chapter", "available"]


def available() -> list[str]:
    """The chapters whose homework exists in this version of the course, in order."""
    found = []
    for name, module in CHAPTERS.items():
        if importlib.util.find_spec(module) is not None:
            found.append(name)
    return found


def chapter(name: str):
    """The module that checks one chapter's homework: "01", "01_tcp" and "ch01" all name chapter 01."""
    key = str(name).strip().lower().removeprefix("ch")
    for full, module in CHAPTERS.items():
        if key in (full, full[:2]):
            return importlib.import_module(module)
    raise ArgumentError(f"There is no homework for chapter {name!r}; the chapters with homework are "
                        f"{', '.join(available())} (give the two digits, for example '01').")


def __getattr__(name: str):
    # `from sockcourse.homework import ch01` as well as `sockcourse.homework.ch01`.
    if name.startswith("ch") and name[2:].isdigit():
        for module in CHAPTERS.values():
            if module.endswith("." + name):
                return importlib.import_module(module)
    raise AttributeError(f"module 'sockcourse.homework' has no attribute {name!r}")
