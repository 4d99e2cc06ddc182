"""Chapter 04's live panel: real measurements pressed from code, the panel's states, refusals, errors, cleanup."""

from __future__ import annotations

import threading
import time
from dataclasses import replace

import psutil
import pytest

pytest.importorskip("ipywidgets")

import sockcourse  # noqa: E402
from sockcourse import manyclients  # noqa: E402
from sockcourse.core.errors import ArgumentError, ArgumentTypeError, MissingFileError  # noqa: E402
from sockcourse.viz import scaling  # noqa: E402
from sockcourse.widgets import clients as clients_module  # noqa: E402
from sockcourse.widgets.clients import COUNTS, MOST, STALL, TIME_LIMIT, clients_panel, fallback_text  # noqa: E402

PNG = b"\x89PNG\r\n\x1a\n"


def _panel_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "sockcourse-clients-panel"]


def _children() -> list[str]:
    """The manyclients processes (servers, clients) this test process has running now."""
    found = []
    for child in psutil.Process().children(recursive=True):
        try:
            line = " ".join(child.cmdline())
        except psutil.Error:
            continue  # ended while we looked
        if "sockcourse.bench.manyclients" in line and child.status() != psutil.STATUS_ZOMBIE:
            found.append(line)
    return found


def _nothing_left(panel) -> None:
    assert panel.wait(30), "the panel's thread did not end within 30 s"
    assert not _panel_threads() and not sockcourse.running() and not _children()


class Recorder:
    """viz.scaling, drawing for real, that also keeps the runs and the Axes of each picture it drew."""

    def __init__(self):
        self.calls = []

    def __call__(self, runs, metric, ax=None, title=None):
        ax = scaling(runs, metric, ax=ax, title=title)
        self.calls.append((list(runs), metric, ax))
        return ax


def _line(ax, gid):
    return next((line for line in ax.get_lines() if line.get_gid() == gid), None)


def test_a_press_measures_for_real_and_draws_the_run_on_the_saved_curve():
    clients_module._pictures.clear()  # every picture drawn anew, as in a fresh kernel
    draw = Recorder()
    box = clients_panel(draw=draw, name="clients real")
    panel = box.panel
    # Built: the saved curve of the model picked (threads) is drawn at once, and nothing runs.
    assert bytes(panel.picture.value).startswith(PNG) and panel.picture in panel.picture_slot.children
    saved_threads = [r for r in manyclients.load(manyclients.MEASURED)[0] if r.model == "threads"]
    assert [r.clients for r in draw.calls[-1][0]] == [r.clients for r in saved_threads]
    assert not sockcourse.running() and not _panel_threads()
    # Another model picked: its saved curve is drawn on the panel's thread; back again, the one drawn comes at once.
    first, calls = bytes(panel.picture.value), len(draw.calls)
    panel.model.value = "selectors"
    assert panel.wait(30) and {r.model for r in draw.calls[-1][0]} == {"selectors"}
    assert bytes(panel.picture.value) != first
    panel.model.value = "threads"
    assert len(draw.calls) == calls + 1 and bytes(panel.picture.value) == first and not _panel_threads()

    pressed = panel.press("threads", 10)
    run = pressed.run
    # Real: a thread per client, plus the one that accepts and the process's main thread.
    assert pressed.ran and pressed.ok and run.echoed == 10 and run.threads == 12 and run.held == 10
    assert run.seconds is not None and 0 < run.seconds < TIME_LIMIT and pressed.seconds >= run.seconds
    status = panel.status.value.replace("&#x27;", "'")
    assert "served" in status and "threads served 10 concurrent clients, every echo right" in status
    assert "12 threads (the main one and 11 serving)" in status and not panel.problem.value
    assert "manyclients.measure('threads', 10, stall=0.3, time_limit=3)" in panel.call.value.replace("&#x27;", "'")
    assert panel.model.value == "threads" and panel.clients.value == 10 and panel.run_button.description == "Run"

    assert panel.wait(30)
    runs, metric, ax = draw.calls[-1]
    live = [r for r in runs if r.model == "threads, live"]
    assert metric == "seconds" and len(live) == 1 and live[0].seconds == run.seconds
    line = _line(ax, "scaling:threads, live")
    assert line is not None and list(line.get_xdata()) == [10] and list(line.get_ydata()) == [run.seconds]
    assert _line(ax, "scaling:threads") is not None  # the saved curve is still there, under it

    # A second count joins the first: the live runs make a line of their own.
    second = panel.press("threads", 20)
    assert second.ok and second.run.threads == 22
    assert panel.wait(30)
    assert list(_line(draw.calls[-1][2], "scaling:threads, live").get_xdata()) == [10, 20]

    # The memory view draws the same runs with the server's memory growth.
    panel.metric.value = "memory"
    assert panel.wait(30) and draw.calls[-1][1] == "memory"
    assert _line(draw.calls[-1][2], "scaling:threads, live") is not None
    box.close()
    _nothing_left(panel)


def test_a_server_that_cannot_keep_up_gives_up_and_says_why():
    draw = Recorder()
    panel = clients_panel(draw=draw, name="clients iterative").panel
    pressed = panel.press("iterative", 10)
    run = pressed.run
    # The iterative server holds one client, who waits for the other nine: nothing moves, the clients give up.
    assert pressed.ran and not pressed.ok and run.held == 1 and run.threads == 2
    assert run.gave_up.startswith(f"nothing moved for {STALL} s") and "gave up" in panel.status.value
    assert "did not serve 10 concurrent clients: nothing moved" in panel.status.value
    assert panel.wait(30)
    runs, metric, ax = draw.calls[-1]
    # Drawn as a cross in the band at the top, with its reason; the saved run's own give-up is left out.
    assert any(line.get_gid() == "scaling:failed:iterative, live" for line in ax.get_lines())
    assert not any(line.get_gid() == "scaling:failed:iterative" for line in ax.get_lines())
    assert [r.clients for r in runs if r.model == "iterative, live"] == [10]
    # Where there is no band (the threads view), the caption says where the run is.
    panel.metric.value = "threads"
    assert panel.wait(30) and "did not serve everyone" in panel.caption.value
    panel.close()
    _nothing_left(panel)


def test_how_long_a_press_takes_for_each_model_at_100_clients():
    panel = clients_panel(draw=scaling, name="clients timing").panel
    took = {}
    for model in manyclients.MODEL_NAMES:
        pressed = panel.press(model, 100)
        assert pressed.ran and pressed.ok == (model != "iterative"), (model, pressed)
        took[model] = (round(pressed.seconds, 2), pressed.run.seconds and round(pressed.run.seconds, 3))
        assert panel.wait(30)
        assert not _children()  # each press ends both of its processes before it answers
    # Reported, not asserted as a time: under load every press grows, mostly the start of two processes.
    print("\nclients panel, 100 clients: press -> result shown (s), and the clients' own time (s):", took)
    panel.close()
    _nothing_left(panel)


def test_a_click_returns_at_once_and_the_panel_says_running():
    panel = clients_panel(draw=scaling, name="clients click").panel
    panel.model.value = "selectors"
    panel.clients.value = 50
    started = time.perf_counter()
    panel.run_button.click()
    returned = time.perf_counter() - started
    assert "running: selectors against 50 concurrent clients" in panel.status.value
    assert panel.run_button.description == "running ..."
    assert [type(t).__name__ for t in sockcourse.running()] == ["PanelWork"] and _panel_threads()
    # A second press while the first runs is refused with a sentence, and starts nothing.
    again = panel.press("threads", 10)
    assert not again.ran and again.refused.startswith("A live run is going already (selectors at 50 clients)")
    assert "A live run is going already" in panel.problem.value
    assert panel.wait(30)
    done = panel.presses[-1]
    assert done.ok and done.run.clients == 50 and done.run.threads == 2 and done.seconds > returned
    assert "served" in panel.status.value and panel.run_button.description == "Run"
    print(f"\nclients panel: a click returned in {returned:.3f} s; its run was shown {done.seconds:.2f} s after it")
    panel.close()
    _nothing_left(panel)


def test_values_the_panel_will_not_run_live_are_refused_in_the_panel():
    panel = clients_panel(draw=scaling, name="clients refused").panel
    too_many = panel.press("threads", 5000)
    assert not too_many.ran and too_many.run is None and f"at most {MOST}" in too_many.refused
    assert "5,000 clients is more than this panel runs live" in panel.problem.value.replace("&#x27;", "'")
    assert "the saved curve goes on to 10,000" in too_many.refused
    assert not panel.press("threads", 0).ran
    assert not sockcourse.running() and not _children()  # nothing was started for them
    assert panel.allowed("threads", MOST) == "" and panel.allowed("threads", MOST + 1)
    # A saved run from a machine so much slower that 10 clients take half the time limit and 100 pass it.
    saved = manyclients.load(manyclients.MEASURED)[0]
    took = {r.clients: r.seconds for r in saved if r.model == "threads"}
    slower = (TIME_LIMIT / 2) / took[10]
    assert took[100] * slower > TIME_LIMIT, "the saved curve must grow from 10 to 100 clients for this test"
    slow = clients_panel([replace(r, seconds=r.seconds and r.seconds * slower) for r in saved], draw=scaling,
                         name="clients slow").panel
    refused = slow.press("threads", 100)
    slow_seconds = took[100] * slower
    assert not refused.ran and refused.refused.startswith(f"The saved run of threads took {slow_seconds:.2f} s "
                                                          f"at 100 clients")
    assert "pick fewer clients" in refused.refused and slow.allowed("threads", 10) == ""
    assert panel.allowed("threads", 100) == ""  # the course's own saved run: 100 is fine
    for one in (panel, slow):
        one.close()
        _nothing_left(one)


def test_errors_show_in_the_panel_and_are_never_raised_into_nowhere():
    def broken(runs, metric, ax=None, title=None):
        raise ValueError("this drawing function is broken on purpose")

    panel = clients_panel(draw=broken, name="clients broken").panel  # the first picture fails: no exception here
    assert "The panel failed at drawing the saved curve (ValueError: this drawing function is broken on purpose)" \
        in panel.problem.value and panel.picture not in panel.picture_slot.children
    pressed = panel.press("asyncio", 10)
    assert pressed.ok and pressed.run.threads == 2  # the measurement does not need the picture
    assert panel.wait(30)
    assert "failed at drawing the picture (ValueError" in panel.problem.value  # from the panel's thread
    panel.close()
    _nothing_left(panel)


def test_stop_all_close_and_a_namesake_end_the_work_and_its_processes():
    panel = clients_panel(draw=scaling, name="clients cleanup").panel
    panel.run_button.click()  # threads at 100, on the panel's thread
    time.sleep(0.2)
    assert sockcourse.running()
    assert sockcourse.stop_all() == 1  # waits for the run in progress, which ends its own processes
    assert not sockcourse.running() and not _panel_threads() and not _children()
    assert "stopped from outside" in panel.problem.value and panel.run_button.description == "Run"
    assert panel.presses[-1].ok  # the run in progress finished first, and its result is shown
    # The panel goes on after stop_all(): a new press starts new work.
    assert panel.press("selectors", 10).ok
    # A panel made again under the same name (its cell run again) closes the older one, its run included.
    panel.run_button.click()
    newer = clients_panel(draw=scaling, name="clients cleanup").panel
    assert panel.closed and not _panel_threads() and not _children() and not sockcourse.running()
    assert panel.run_button.disabled and panel.presses[-1].run is not None
    late = panel.press("threads", 10)
    assert not late.ran and "This panel is closed" in late.refused
    box = newer.box
    box.close()  # the box's close() is the panel's close()
    assert newer.closed and newer.model.disabled and "closed" in newer.status.value
    newer.close()  # safe twice
    _nothing_left(newer)


def test_bad_arguments_get_a_sentence():
    panel = clients_panel(name="clients arguments").panel  # no drawing function: the words alone
    assert panel.picture not in panel.picture_slot.children and not panel.problem.value
    with pytest.raises(ArgumentError, match=r"Unknown model 'forking'; expected one of 'iterative', 'threads'"):
        panel.press("forking", 10)
    with pytest.raises(ArgumentTypeError, match=r"number of clients must be a whole number, such as 100, but got "
                                                r"'100' \(type str\); the slider offers 10, 20"):
        panel.press("threads", "100")
    with pytest.raises(ArgumentTypeError, match=r"number of clients .* but got True"):
        panel.press("threads", True)
    assert panel.press("selectors", 10).ok and panel.wait(30)
    assert not panel.problem.value and not panel.caption.value and panel.picture not in panel.picture_slot.children
    panel.close()
    with pytest.raises(ArgumentTypeError, match=r"draw argument must be a function .* but got 'scaling'"):
        clients_panel(draw="scaling")
    with pytest.raises(MissingFileError, match=r"no file 'no-such-runs.json'"):
        clients_panel("no-such-runs.json")
    with pytest.raises(ArgumentTypeError, match=r"saved runs must be a file .* or a list of manyclients.Run"):
        clients_panel([1, 2, 3])
    with pytest.raises(ArgumentError, match=r"time_limit must be a positive number of seconds of at most 10"):
        clients_panel(time_limit=60)
    assert not sockcourse.running()


def test_where_widgets_do_not_render_the_text_says_how_to_measure():
    box = clients_panel(draw=scaling, name="clients text")
    bundle = box._repr_mimebundle_()
    data = bundle[0] if isinstance(bundle, tuple) else bundle
    text = data["text/plain"]
    assert text == fallback_text() and "application/vnd.jupyter.widget-view+json" in data
    assert f"manyclients.measure('threads', 100, stall={STALL}, time_limit={TIME_LIMIT:g})" in text
    assert all(str(count) in text for count in COUNTS) and all(m in text for m in manyclients.MODEL_NAMES)
    assert "127.0.0.1" not in text  # nothing in it changes between runs
    box.close()


def test_the_pictures_rows_put_the_live_runs_on_the_saved_ones():
    saved = manyclients.load(manyclients.MEASURED)[0]
    live_ok = manyclients.Run("selectors", 50, ok=True, echoed=50, seconds=0.01, memory_mib=0.1, threads=2)
    gave_up = manyclients.Run("selectors", 200, ok=False, echoed=3, gave_up="nothing moved for 0.3 s")
    mine, points = clients_module.picture_rows(saved, "selectors", [live_ok])
    assert {r.model for r in mine} == {"selectors"} and [(p.model, p.clients) for p in points] == \
        [("selectors, live", 50)]
    # The newest run gave up: it is drawn (a cross), and the ok one stays on its line.
    _, points = clients_module.picture_rows(saved, "selectors", [live_ok, gave_up])
    assert [(p.clients, p.ok) for p in points] == [(50, True), (200, False)]
    # An older give-up is not drawn once a newer run served everyone.
    _, points = clients_module.picture_rows(saved, "selectors", [gave_up, live_ok])
    assert [(p.clients, p.ok) for p in points] == [(50, True)]
    assert clients_module.saved_seconds(saved, "selectors", 100)[0] == 100
    assert clients_module.saved_seconds(saved, "selectors", 20)[0] == 100  # the next count up bounds it
    assert clients_module.saved_seconds(saved, "iterative", 10) == (1, saved[0].seconds * 10)
