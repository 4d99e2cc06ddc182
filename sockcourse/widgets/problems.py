"""What a widget shows when something goes wrong, written once for every panel.

A widget's callback runs in the kernel with nobody to catch what it raises:
an exception there vanishes, or lands in a log the learner never sees. So
every panel shows its problems in a line of its own, in one colour, and
says whose they are: the learner's choice, the machine, or the course.
"""

from __future__ import annotations

import html

from ..core.errors import SockcourseError

#: Okabe-Ito vermillion, the colour of every problem line (viz uses the same palette).
WARN = "#D55E00"


def warning(sentence: str) -> str:
    """A problem line: the sentence, escaped, in the warning colour."""
    return f"<span style='color:{WARN}'>{html.escape(sentence)}</span>"


def course_bug(what_failed: str, exc: BaseException, not_yours: str = "") -> str:
    """The sentence for an error no learner's choice explains: it is the course's.

    what_failed: the start of the sentence, "The panel failed at drawing the curve".
    """
    blame = f", not in {not_yours}" if not_yours else ""
    return f"{what_failed} ({type(exc).__name__}: {exc}); this is a bug in the course{blame}."


class Failed(Exception):
    """What `shown_problems` raises after it has put the problem on the panel: the callback stops there."""


def shown_problems(action, *, problem, what_failed: str, not_yours: str):
    """Run `action()`; a problem lands on the `problem` widget as a sentence, never in nowhere.

    A course error (a refused value, a closed CA, the machine saying no) is
    shown as it is; any other exception is the course's own bug and says so.
    Either way Failed is raised, so the caller clears its own status line.
    """
    try:
        return action()
    except SockcourseError as exc:
        problem.value = warning(str(exc))
    except Exception as exc:  # noqa: BLE001 - a callback's error would vanish; this is the course's fault
        problem.value = warning(course_bug(what_failed, exc, not_yours))
    raise Failed
