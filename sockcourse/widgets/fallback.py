"""A box that says something useful where widgets do not render.

A notebook stores a widget's output twice: the view JupyterLab draws, and a
text stand-in that everything else shows (nbviewer, GitHub, a terminal, a
notebook whose widget state was not saved). ipywidgets' stand-in is the
box's repr, "VBox(children=(...))", which helps nobody; a `FallbackBox`
shows its `fallback` text there instead, so each widget can say what it
is and how to do the same without widgets.
"""

from __future__ import annotations

import ipywidgets as widgets


class FallbackBox(widgets.VBox):
    """A VBox whose text/plain form is `fallback`, a few lines written by the widget that owns it."""

    fallback = ""

    def _repr_mimebundle_(self, **kwargs):
        bundle = super()._repr_mimebundle_(**kwargs)
        data = bundle[0] if isinstance(bundle, tuple) else bundle  # (data, metadata) in some ipywidgets versions
        if data is not None:
            data["text/plain"] = self.fallback
        return bundle
