"""Chapter 07's option explorer: pick an option and a value, run its small experiment, see what changed.

`explorer()` returns an ipywidgets box: a menu of options, a menu of values
for the option picked, a Run button, the experiment's sentence and number,
what the kernel kept (its read-back), and a table of the tries so far, so
two values can be compared. The experiments are the chapter's own
(`sockcourse.bench.options.experiments()`); each runs on real sockets for
about a second at most and closes what it opened.

Where widgets do not render (a notebook viewer, a terminal), the box's text
form says how to run the same experiment as a plain call,
`sockcourse.bench.options.explore(option, value)`.
"""

from __future__ import annotations

import html

import ipywidgets as widgets

from ..bench.options import Tried, experiments
from ..core.errors import ArgumentError
from .fallback import FallbackBox
from .problems import Failed, shown_problems

#: How many tries the table keeps, newest first.
HISTORY = 8


def _shown(value) -> str:
    return "None (off)" if value is None else repr(value)


class ExplorerBox(FallbackBox):
    """The explorer's box; its text form says how to run the same experiments as plain calls."""

    explorer = None


class Explorer:
    """What the explorer does: offers the options, runs one experiment per press, keeps the tries."""

    def __init__(self):
        self.offered = experiments()
        names = list(self.offered)
        self.option = widgets.Dropdown(options=names, value=names[0], description="option")
        self.value = widgets.Dropdown(description="value")
        self.run = widgets.Button(description="Run", button_style="primary", tooltip="run the experiment")
        self.result = widgets.HTML(value="<i>Pick an option and a value, then press Run.</i>")
        self.table = widgets.HTML(value="")
        self.problem = widgets.HTML(value="")
        self.tries: list[Tried] = []
        self.option.observe(self._offer_values, names="value")
        self.run.on_click(self._run)
        self._offer_values()
        self.box = ExplorerBox([widgets.HBox([self.option, self.value, self.run]), self.result, self.problem,
                                self.table])
        self.box.fallback = self.fallback_text()
        self.box.explorer = self

    def fallback_text(self) -> str:
        lines = ["The option explorer (a widget; it shows as buttons in JupyterLab).",
                 "Without widgets, run the same experiments as plain calls, for example:",
                 "    from sockcourse.bench.options import explore",
                 "    print(explore('TCP_NODELAY', True).sentence)",
                 "Options and the values it offers:"]
        for name, (_run, values) in self.offered.items():
            lines.append(f"    {name}: {', '.join(_shown(v) for v in values)}")
        return "\n".join(lines)

    def _offer_values(self, _change=None) -> None:
        _run, values = self.offered[self.option.value]
        self.value.options = [(_shown(v), i) for i, v in enumerate(values)]
        self.value.value = 0 if values else None

    def press(self, option: str, value) -> Tried | None:
        """Pick `option` and `value` in the menus, then run, as a click on Run would."""
        if option not in self.offered:
            raise ArgumentError(f"The explorer offers no option {option!r}; it offers {', '.join(self.offered)}.")
        values = self.offered[option][1]
        if value not in values:
            raise ArgumentError(f"The explorer offers {option} with the values {', '.join(map(_shown, values))}, "
                                f"not {value!r}; for another value call sockcourse.bench.options.explore().")
        self.option.value = option
        self.value.value = values.index(value)
        return self._run()

    def _run(self, _button=None) -> Tried | None:
        option = self.option.value
        run, values = self.offered[option]
        value = values[self.value.value]
        self.run.disabled = True
        self.problem.value = ""
        self.result.value = f"<i>running {html.escape(option)} = {html.escape(_shown(value))} ...</i>"
        try:
            tried = shown_problems(lambda: run(value), problem=self.problem, not_yours="your choice",
                                   what_failed=f"The course's experiment for {option} failed")
        except Failed:
            self.result.value = ""
            return None
        finally:
            self.run.disabled = False
        self.tries.insert(0, tried)
        del self.tries[HISTORY:]
        number = "-" if tried.number is None else f"{tried.number:,.3g}" if isinstance(tried.number, float) \
            else f"{tried.number:,}"
        self.result.value = (f"<b>{html.escape(tried.sentence)}</b><br>"
                             f"number: {html.escape(number)} {html.escape(tried.unit)} &middot; "
                             f"the kernel kept: {html.escape(_shown(tried.readback))}")
        self.table.value = self._table()
        return tried

    def _table(self) -> str:
        head = "".join(f"<th style='text-align:left;padding-right:1em'>{h}</th>"
                       for h in ("option", "value", "kernel kept", "number", "unit"))
        rows = []
        for t in self.tries:
            number = "-" if t.number is None else f"{t.number:,.3g}" if isinstance(t.number, float) else f"{t.number:,}"
            cells = (t.option, _shown(t.value), _shown(t.readback), number, t.unit)
            rows.append("<tr>" + "".join(f"<td style='padding-right:1em'>{html.escape(str(c))}</td>" for c in cells)
                        + "</tr>")
        return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def explorer() -> ExplorerBox:
    """The option explorer, a box to display in a cell (its .explorer is the Explorer behind it)."""
    return Explorer().box
