"""Layer 5, widgets a notebook displays: the link's fault sliders and chapter 07's option explorer.

`link_panel(link)` (linkpanel.py) changes a running link's faults while
traffic flows; `explorer()` (optionexplorer.py) runs one small socket-option
experiment per press. ipywidgets is imported only here, so `import
sockcourse` never needs a browser front end.
"""

from .linkpanel import REFRESH, LinkPanel, counts_text, link_panel


def explorer():
    """Chapter 07's option explorer (see sockcourse.widgets.optionexplorer)."""
    from .optionexplorer import explorer as make

    return make()


__all__ = ["REFRESH", "LinkPanel", "counts_text", "explorer", "link_panel"]
