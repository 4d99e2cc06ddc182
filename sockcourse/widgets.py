"""Sliders in a notebook that change a running link's faults while traffic flows.

`link_panel(link)` returns an ipywidgets box: pick a direction (or both),
move a slider, and the link's settings change at once through `link.set()`;
a line below counts what the link has done so far. ipywidgets is imported
only by this module, so `import sockcourse` never needs a browser front end.
"""

from __future__ import annotations

import threading

import ipywidgets as widgets

from .link import ACTIONS, Link

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
    counts = link.counts()
    done = ", ".join(f"{counts[action]} {action}" for action in ACTIONS if counts[action])
    state = "" if link.running else " (stopped)"
    return f"{done or 'nothing has passed through yet'}{state}"


def link_panel(link: Link, *, refresh: float = REFRESH) -> widgets.VBox:
    """A box of sliders for `link`'s faults and a live line of counts; display it in a cell."""
    if not isinstance(link, Link):
        raise TypeError(f"link_panel() needs a running link, but got {link!r} (a {type(link).__name__}); "
                        f"start one with sockcourse.link.link(server.address) and pass it.")
    if isinstance(refresh, bool) or not isinstance(refresh, (int, float)) or not 0.05 <= refresh <= 60:
        raise ValueError(f"The refresh must be a number of seconds from 0.05 to 60, but got {refresh!r}; "
                         f"the default is {REFRESH}.")
    direction = widgets.ToggleButtons(
        options=[("both ways", "both"), ("client → server", "to_server"), ("server → client", "to_client")],
        value="both", description="direction")
    sliders = {}
    for name in _FOR[link.transport]:
        label, top, step, _ = _SLIDERS[name]
        if name == "chunk":
            sliders[name] = widgets.IntSlider(min=0, max=top, step=step, description=label)
        else:
            sliders[name] = widgets.FloatSlider(min=0, max=top, step=step, description=label,
                                                readout_format=".0f" if step >= 1 else ".2f")
        sliders[name].style.description_width = "initial"
    counts = widgets.Label(value=counts_text(link))
    problem = widgets.Label(value="")
    loading = [False]  # True while the sliders are being filled from the link, not moved by hand

    def load(_change=None) -> None:
        settings = link.settings["to_server" if direction.value == "both" else direction.value]
        loading[0] = True
        try:
            for name, slider in sliders.items():
                value = (settings[name] or 0) * _SLIDERS[name][3]
                slider.max = max(slider.max, value)  # a setting made in code may go past the slider's end
                slider.value = value
        finally:
            loading[0] = False

    def mover(name: str):
        def moved(change) -> None:
            if loading[0]:
                return
            if name == "chunk":
                value = int(change["new"]) or None  # 0 on the slider turns chunking off
            else:
                value = change["new"] / _SLIDERS[name][3]
            try:
                link.set(direction.value, **{name: value})
                problem.value = ""
            except (TypeError, ValueError) as exc:  # shown in the panel: a callback's error would vanish
                problem.value = str(exc)
            counts.value = counts_text(link)
        return moved

    for name, slider in sliders.items():
        slider.observe(mover(name), names="value")
    direction.observe(load, names="value")
    load()

    panel = widgets.VBox([direction, *sliders.values(), counts, problem])
    panel.sliders = sliders
    panel.direction = direction
    panel.counts = counts
    closed = threading.Event()

    def refresher() -> None:
        # Ends when the link stops (stop(), stop_all() or a cell re-run) or the panel is closed.
        while link.running and not closed.wait(refresh):
            counts.value = counts_text(link)
        counts.value = counts_text(link)

    original_close = panel.close

    def close() -> None:
        closed.set()
        original_close()

    panel.close = close
    threading.Thread(target=refresher, name=f"sockcourse-panel-{link.port}", daemon=True).start()
    return panel
