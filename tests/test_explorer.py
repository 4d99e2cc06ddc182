"""Chapter 07's option explorer: the experiments it offers, a press, its errors, its text fallback."""

from __future__ import annotations

import threading

import pytest

pytest.importorskip("ipywidgets")

import sockcourse  # noqa: E402
from sockcourse.bench import options as experiments  # noqa: E402
from sockcourse.bench.options import timing  # noqa: E402
from sockcourse.core.errors import ArgumentError, ArgumentTypeError  # noqa: E402
from sockcourse.kernel import OPTIONS  # noqa: E402
from sockcourse.widgets import explorer  # noqa: E402


def test_every_offered_experiment_names_a_chapter_option_and_offers_values():
    offered = experiments.experiments()
    names = [option.name for option in OPTIONS]
    assert offered and set(offered) <= set(names)
    assert list(offered) == sorted(offered, key=names.index)  # in the table's order
    for name, (run, values) in offered.items():
        assert callable(run) and values, name


def test_a_press_runs_the_experiment_and_shows_its_number_and_the_readback():
    box = explorer()
    before = threading.active_count()
    tried = box.explorer.press("TCP_NODELAY", True)
    assert tried.option == "TCP_NODELAY" and tried.value is True and tried.readback is True
    assert tried.number is not None and tried.sentence.endswith(".")
    assert tried.sentence in box.explorer.result.value.replace("&#x27;", "'")
    assert box.explorer.table.value.count("<tr>") == 2  # the head and one try
    box.explorer.press("TCP_NODELAY", False)
    assert box.explorer.table.value.count("<tr>") == 3
    assert not box.explorer.run.disabled and not box.explorer.problem.value
    assert threading.active_count() <= before and not sockcourse.running()


def test_a_value_the_explorer_does_not_offer_is_refused_with_a_sentence():
    box = explorer()
    with pytest.raises(ArgumentError, match=r"offers TCP_NODELAY with the values .* not 'fast'"):
        box.explorer.press("TCP_NODELAY", "fast")
    with pytest.raises(ArgumentError, match=r"offers no option 'SO_NOTHING'"):
        box.explorer.press("SO_NOTHING", True)


def test_an_experiment_that_refuses_its_value_shows_why_in_the_panel_instead_of_raising():
    box = explorer()
    ex = box.explorer
    # A real experiment given a value it refuses: the refusal must land in the panel.
    ex.offered["TCP_NODELAY"] = (timing.EXPLORE["TCP_NODELAY"], ["not a bool"])
    ex.option.value = "TCP_NODELAY"
    ex._offer_values()
    assert ex._run() is None
    assert "TCP_NODELAY" in ex.problem.value and "not a bool" in ex.problem.value.replace("&#x27;", "'")
    assert not ex.run.disabled and ex.result.value == ""


def test_where_widgets_do_not_render_the_text_says_how_to_run_the_same_experiments():
    box = explorer()
    bundle = box._repr_mimebundle_()
    data = bundle[0] if isinstance(bundle, tuple) else bundle
    text = data["text/plain"]
    assert "explore('TCP_NODELAY', True)" in text
    for name in box.explorer.offered:
        assert f"    {name}: " in text
    assert "application/vnd.jupyter.widget-view+json" in data


def test_explore_without_widgets_and_its_errors():
    tried = experiments.explore("tcp_nodelay", True)
    assert tried.option == "TCP_NODELAY" and tried.readback is True
    with pytest.raises(ArgumentError, match=r"no experiment for 'SO_KEEPALIVE'; it has one for .*TCP_NODELAY"):
        experiments.explore("SO_KEEPALIVE", True)
    with pytest.raises(ArgumentTypeError, match=r"named by a string .* but got 7"):
        experiments.explore(7, True)
