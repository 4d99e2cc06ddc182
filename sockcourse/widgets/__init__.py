"""Layer 5, widgets a notebook displays: the link's fault sliders, chapter 01's lifecycle stepper,
chapter 04's many-clients panel, chapter 05's certificate picker and chapter 07's option explorer.

`link_panel(link)` (linkpanel.py) changes a running link's faults while
traffic flows; `explorer()` (optionexplorer.py) runs one small socket-option
experiment per press; `lifecycle_stepper()` (stepper.py), `clients_panel()`
(clients.py) and `cert_picker()` (certpicker.py) are chapter 01's, 04's and
05's. Each box shows a text stand-in where widgets do not render
(fallback.py). ipywidgets is imported only here, so `import sockcourse`
never needs a browser front end.
"""

from .linkpanel import REFRESH, LinkPanel, counts_text, link_panel


def explorer():
    """Chapter 07's option explorer (see sockcourse.widgets.optionexplorer)."""
    from .optionexplorer import explorer as make

    return make()


def lifecycle_stepper(*, draw=None, name: str = "lifecycle stepper"):
    """Chapter 01's lifecycle stepper (see sockcourse.widgets.stepper); pass draw=viz.state_diagram."""
    from .stepper import lifecycle_stepper as make

    return make(draw=draw, name=name)


def cert_picker(ca=None, stranger=None, *, timeout: float = 5.0):
    """Chapter 05's certificate picker (see sockcourse.widgets.certpicker)."""
    from .certpicker import cert_picker as make

    return make(ca, stranger, timeout=timeout)


def clients_panel(saved=None, *, draw=None, name: str = "many clients panel", time_limit: float = 3.0):
    """Chapter 04's live many-clients panel (see sockcourse.widgets.clients); pass draw=viz.scaling."""
    from .clients import clients_panel as make

    return make(saved, draw=draw, name=name, time_limit=time_limit)


__all__ = ["REFRESH", "LinkPanel", "cert_picker", "clients_panel", "counts_text", "explorer", "lifecycle_stepper",
           "link_panel"]
