"""Sliders in a notebook that change a running link's faults while traffic flows.

`link_panel(link)` returns an ipywidgets box that a `LinkPanel` drives:
pick a direction (or both), move a slider, and the link's settings change
at once through `link.set()`; a line below counts what the link has done so
far (the words of `sockcourse.link.summary`). ipywidgets is imported only by
this module, so `import sockcourse` never needs a browser front end.
"""

from __future__ import annotations

import threading

import ipywidgets as widgets

from ..core.checks import check_number
from ..core.errors import ArgumentTypeError
from ..link import Link, summary

#: Seconds between two refreshes of the counts line while the link runs.
REFRESH = 0.5

# setting -> (label, largest value shown, step, factor from the link's unit to the slider's)
_SLIDERS = {
    "delay": ("delay (ms)", 500, 5, 1000),
    "jitter": ("jitter (ms)", 200, 1, 1000),
    "loss": ("loss", 1.0, 0.01, 1),
    "duplicate": ("duplicate", 1.0, 0.01, 1),
    "reorder": ("reorder", 1.0, 0.01, 1),
    "chunk": ("chunk (B, 0 = off)", 1460, 1, 1),
}
_FOR = {"tcp": ("delay", "jitter", "loss", "chunk"), "udp": ("delay", "jitter", "loss", "duplicate", "reorder")}


def counts_text(link: Link) -> str:
    """The counts line: what the link has done, per action, in both directions."""
    return f"{summary(link.counts())}{'' if link.running else ' (stopped)'}"


def link_panel(link: Link, *, refresh: float = REFRESH) -> widgets.VBox:
    """A box of sliders for `link`'s faults and a live line of counts; display it in a cell.

    The box is a plain ipywidgets VBox with `direction`, `sliders` (by
    setting name) and `counts` on it, and a close() that also ends the refresh.
    """
    return LinkPanel(link, refresh=refresh).box


class LinkPanel:
    """What a panel does: shows the link's settings, sets them when a slider moves, refreshes the counts.

    It builds `box`, the VBox a cell displays, and stays alive as long as the
    box does (the box's callbacks are its methods). A thread refreshes the
    counts line every `refresh` seconds until the link stops (stop(),
    stop_all() or a cell re-run) or the box is closed.
    """

    def __init__(self, link: Link, *, refresh: float = REFRESH):
        if not isinstance(link, Link):
            raise ArgumentTypeError(f"The panel link_panel() needs a running link, but got {link!r} (type {type(link).__name__}); "
                                    f"start one with sockcourse.link.link(server.address) and pass it.")
        refresh = check_number(refresh, "refresh", low=0.05, high=60, example=REFRESH)
        self.link = link
        self.direction = widgets.ToggleButtons(
            options=[("both ways", "both"), ("client → server", "to_server"), ("server → client", "to_client")],
            value="both", description="direction")
        self.sliders = {name: self._slider(name) for name in _FOR[link.transport]}
        self.counts = widgets.Label(value=counts_text(link))
        self.problem = widgets.Label(value="")
        self._loading = False  # True while the sliders are filled from the link, not moved by hand
        self._closed = threading.Event()
        for name, slider in self.sliders.items():
            slider.observe(self._mover(name), names="value")
        self.direction.observe(self._load, names="value")
        self._load()

        # A plain VBox, so that a notebook shows (and stores) exactly what it always did.
        self.box = widgets.VBox([self.direction, *self.sliders.values(), self.counts, self.problem])
        self.box.sliders, self.box.direction, self.box.counts = self.sliders, self.direction, self.counts
        self.box.problem = self.problem
        self._close_box = self.box.close
        self.box.close = self.close
        threading.Thread(target=self._refresh, args=(refresh,), name=f"sockcourse-panel-{link.port}",
                         daemon=True).start()

    @staticmethod
    def _slider(name: str):
        label, top, step, _ = _SLIDERS[name]
        if name == "chunk":
            slider = widgets.IntSlider(min=0, max=top, step=step, description=label)
        else:
            slider = widgets.FloatSlider(min=0, max=top, step=step, description=label,
                                         readout_format=".0f" if step >= 1 else ".2f")
        slider.style.description_width = "initial"
        return slider

    def _load(self, _change=None) -> None:
        """Show the settings of the direction picked ('both' shows the client's side)."""
        settings = self.link.settings["to_server" if self.direction.value == "both" else self.direction.value]
        self._loading = True
        try:
            for name, slider in self.sliders.items():
                value = (settings[name] or 0) * _SLIDERS[name][3]
                slider.max = max(slider.max, value)  # a setting made in code may go past the slider's end
                slider.value = value
        finally:
            self._loading = False

    def _mover(self, name: str):
        def moved(change) -> None:
            if self._loading:
                return
            if not self.link.running:
                self._show_stopped()
                return
            if name == "chunk":
                value = int(change["new"]) or None  # 0 on the slider turns chunking off
            else:
                value = change["new"] / _SLIDERS[name][3]
            try:
                self.link.set(self.direction.value, **{name: value})
                self.problem.value = ""
            except (TypeError, ValueError) as exc:  # shown in the panel: a callback's error would vanish
                self.problem.value = str(exc)
            self.counts.value = counts_text(self.link)
        return moved

    def _refresh(self, every: float) -> None:
        while self.link.running and not self._closed.wait(every):
            self.counts.value = counts_text(self.link)
        self.counts.value = counts_text(self.link)
        if not self.link.running:
            self._show_stopped()

    def _show_stopped(self) -> None:
        """A stopped link takes no settings: say so, and stop offering the sliders."""
        for slider in self.sliders.values():
            slider.disabled = True
        self.direction.disabled = True
        self.problem.value = (f"This link has stopped (link.stop(), stop_all() or a later cell stopped it), so the "
                              f"sliders change nothing now; run the cells that start the link and show this panel again.")

    def close(self) -> None:
        """End the refresh and close the box."""
        self._closed.set()
        self._close_box()
