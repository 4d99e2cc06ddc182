"""The course in a real browser: JupyterLab from the course's venv, driven in Chromium as a learner would.

One JupyterLab server and one Chromium serve the whole module. The server
serves a private copy of notebooks/ (inside a temp folder laid out like the
repository, so the address Binder opens, lab/tree/notebooks, is the one
tested): JupyterLab autosaves open notebooks every two minutes, and a run in
the real folder would rewrite files git tracks. The copy is never saved back.

For every chapter notebook and every homework student copy (found by glob, so
a new chapter is tested as soon as it exists), the test opens it with File >
Open from Path, runs Run > Run All Cells, and asserts what a learner must see:
every code cell ran; no error output (nothing on stderr at all: the committed
notebooks have none, so a warning is as wrong as a traceback); every image
loaded; every widget drawn as a widget, not its text stand-in; no JavaScript
console error; no news prompt. It clicks each widget control once and prints
how long the kernel took to answer (reported, not asserted); in chapter 02 it
moves the link panel's loss slider and checks the real link's setting and the
counts line. Screenshots of each notebook, screenful by screenful, and the
server's log go to build/browser-screenshots/, kept after a failure.

Chromium comes from the system (Debian's chromium package; `make test`
installs it as root on Debian), Playwright from the test extras; without them
the browser tests skip with a sentence saying what to install, except under
CI=true, where test_ci_really_ran_the_browser_tests fails instead.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from browser import lab as jlab
from browser import notebook as drive

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"
CHAPTERS = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
STUDENT_COPIES = sorted((NOTEBOOKS / "homework").glob("[0-9][0-9]_*.ipynb"))
SHOTS = REPO / "build" / "browser-screenshots"
#: Screenshots per notebook: its first screen, or every screen top to bottom with
#: SOCKCOURSE_SCREENSHOTS=all (about a minute more for the whole course).
SHOT_PARTS = 40 if os.environ.get("SOCKCOURSE_SCREENSHOTS") == "all" else 1
OVERRIDE = REPO / "jupyterlab-settings" / "overrides.json"

#: Console errors the test lets pass, each with its reason (a regular expression -> why). None is needed now.
ALLOWED_CONSOLE_ERRORS: dict[str, str] = {}

#: How long one notebook's Run All may take on a loaded 2-core machine; chapter 04, the slowest, takes ~16 s idle.
RUN_ALL_TIMEOUT = 240

#: What the learner's browser may ask the server for: nothing that makes it fetch from the internet.
FETCHING_ENDPOINTS = ("/lab/api/news", "/lab/api/update", "/lab/api/extensions")

_ran: set[str] = set()      # node ids of the browser tests whose body started, for the CI check at the end
_report: dict = {}          # what each notebook showed, written to SHOTS/report.json


def _why_skipped() -> str | None:
    """The one sentence saying why the browser tests cannot run here, or None when they can."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return ("Playwright (the Python package) is not installed, so the browser tests are skipped; "
                "install the test extras: .venv/bin/python -m pip install -e '.[test]' (make test does it).")
    executable, reason = jlab.find_browser()
    return None if executable else reason


def _notebook_id(path: Path) -> str:
    return str(path.relative_to(NOTEBOOKS).with_suffix(""))


def _committed(path: Path) -> dict:
    """What the committed file says the browser should show: code cells, images, widgets and their fallbacks."""
    nb = json.loads(path.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    outputs = [o for c in code for o in c.get("outputs", [])]
    widgets = [o for o in outputs if drive.WIDGET_MIME in o.get("data", {})]
    return {
        "sources": ["".join(c["source"]) for c in code],
        "images": sum(1 for o in outputs if "image/png" in o.get("data", {}) or "image/jpeg" in o.get("data", {})),
        "widgets": len(widgets),
        "fallbacks": ["".join(o["data"].get("text/plain", "")) for o in widgets],
        "has_outputs": bool(outputs),
    }


# -- the server and the browser, once for the module --------------------------------------------------

class Session:
    def __init__(self, lab, context, page, watch, load_seconds):
        self.lab, self.context, self.page, self.watch, self.load_seconds = lab, context, page, watch, load_seconds

    def served(self, path: Path) -> Path:
        """The private copy of a notebook that the server serves (read that one: the real file may change meanwhile)."""
        return self.lab.root / path.relative_to(REPO)


@pytest.fixture(scope="module")
def session():
    reason = _why_skipped()
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    executable, _ = jlab.find_browser()
    folder = Path(tempfile.mkdtemp(prefix="sockcourse-browser-"))
    course = folder / "course"
    shutil.copytree(NOTEBOOKS, course / "notebooks", ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    shutil.rmtree(SHOTS, ignore_errors=True)  # only this run's pictures, so none is taken for a fresh one
    SHOTS.mkdir(parents=True)
    lab = jlab.Lab(course)
    _report["machine"] = {"cpus": os.cpu_count(), "load_average_at_start": os.getloadavg()}
    began = time.monotonic()
    try:
        lab.start()
        with sync_playwright() as playwright:
            context = drive.launch(playwright, executable, str(folder / "chromium-profile"))
            try:
                page = context.new_page()
                watch = drive.Watch().attach(context, page)
                # The address Binder opens (urlpath=lab/tree/notebooks), on a layout like the repository's.
                load = drive.open_lab(page, lab.url("lab/tree/notebooks"))
                yield Session(lab, context, page, watch, load)
            finally:
                context.close()
    finally:
        _report["machine"].update(load_average_at_end=os.getloadavg(), module_seconds=round(time.monotonic() - began, 1))
        (SHOTS / "jupyterlab.log").write_text(lab.log())
        (SHOTS / "report.json").write_text(json.dumps(_report, indent=1, sort_keys=True))
        lab.close()
        shutil.rmtree(folder, ignore_errors=True)


# -- the settings override (no browser needed) ---------------------------------------------------------

def _schema(plugin_id: str) -> dict | None:
    package, _, plugin = plugin_id.partition(":")
    from jupyterlab.commands import get_app_dir

    path = Path(get_app_dir()) / "schemas" / package / f"{plugin}.json"
    return json.loads(path.read_text()) if path.exists() else None


def test_settings_override_names_real_plugins_and_valid_values():
    jsonschema = pytest.importorskip("jsonschema", reason="jsonschema (a JupyterLab dependency) checks the values")
    override = json.loads(OVERRIDE.read_text())  # strict JSON: a trailing comma fails here, as it would in JupyterLab
    assert override, f"{OVERRIDE} is empty."
    wanted = {"@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False},
              "@jupyterlab/extensionmanager-extension:plugin": {"enabled": False}}
    assert override == wanted, f"{OVERRIDE} should say exactly {wanted}, so a first start asks and fetches nothing."
    for plugin_id, values in override.items():
        schema = _schema(plugin_id)
        assert schema is not None, f"{OVERRIDE}: {plugin_id!r} is no plugin id of this JupyterLab (no schema for it)."
        for key, value in values.items():
            assert key in schema["properties"], f"{OVERRIDE}: {plugin_id} has no setting {key!r}."
            jsonschema.validate(value, schema["properties"][key])


def test_the_set_up_put_the_override_where_jupyterlab_reads_it():
    from jupyterlab.commands import get_app_dir

    if Path(sys.prefix).resolve() != (REPO / ".venv").resolve():
        pytest.skip(f"these tests run in {sys.prefix}, not in the course's .venv that `make lab` and `make test` set up")
    installed = Path(get_app_dir()) / "settings" / "overrides.json"
    assert installed.exists(), f"{installed} is missing; `make lab` and `make test` copy {OVERRIDE.name} there."
    assert json.loads(installed.read_text()) == json.loads(OVERRIDE.read_text()), \
        f"{installed} differs from {OVERRIDE}; run make test again, which copies it when the source is newer."


def test_binder_postbuild_copies_the_override_into_the_environment(tmp_path):
    """Run binder/postBuild for real, with a stand-in `python` on PATH that installs nothing and names a temp prefix."""
    repo, prefix, bin_dir = tmp_path / "repo", tmp_path / "prefix", tmp_path / "bin"
    (repo / "binder").mkdir(parents=True)
    bin_dir.mkdir()
    shutil.copy2(REPO / "binder" / "postBuild", repo / "binder" / "postBuild")
    (repo / OVERRIDE.parent.name).mkdir()
    shutil.copy2(OVERRIDE, repo / OVERRIDE.parent.name / OVERRIDE.name)
    stand_in = bin_dir / "python"
    stand_in.write_text('#!/bin/sh\n# pip: nothing to install here; -c: answer as the environment\'s python would\n'
                        'case "$1" in -m) exit 0 ;; -c) echo "$FAKE_PREFIX" ;; *) exit 3 ;; esac\n')
    stand_in.chmod(0o755)
    env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}", FAKE_PREFIX=str(prefix))
    proc = subprocess.run(["bash", "binder/postBuild"], cwd=repo, env=env, capture_output=True, text=True,
                          timeout=30, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    copied = prefix / "share" / "jupyter" / "lab" / "settings" / "overrides.json"
    assert copied.exists(), f"binder/postBuild did not put the override at {copied}:\n{proc.stdout}{proc.stderr}"
    assert copied.read_text() == OVERRIDE.read_text()


# -- the browser tests ------------------------------------------------------------------------------

@pytest.mark.timeout(300)
def test_first_start_opens_on_notebooks_and_asks_no_news(session, request):
    _ran.add(request.node.nodeid)
    page, lab = session.page, session.lab
    crumbs = page.locator(".jp-BreadCrumbs").text_content()
    assert crumbs.strip("/ ") == "notebooks", f"The file browser opened on {crumbs!r}, not on notebooks/."
    listed = set(page.locator(".jp-DirListing-itemText").all_text_contents())
    missing = [p.name for p in CHAPTERS if p.name not in listed]
    assert not missing, f"The file browser on notebooks/ does not list {missing}."
    served = lab.api("GET", "lab/api/settings/@jupyterlab/apputils-extension:notification")
    assert served["schema"]["properties"]["fetchNews"]["default"] == "false", \
        "The server does not apply the course's settings override: fetchNews is not 'false'."
    page.wait_for_timeout(3000)  # the news question comes once the app is restored, a moment after the listing
    news = [t for t in drive.toasts(page) if "news" in t.lower()]
    assert not news, f"A first start asks about news: {news}"
    _report["first start"] = {"lab_load_seconds": round(session.load_seconds, 2)}


_CONTROLS = """
(cell) => {
  // Every control a learner can press or move now, in page order, read in one round trip.
  const found = [];
  cell.querySelectorAll(".jupyter-widgets button").forEach((b, i) => {
    const shown = b.offsetParent !== null;
    if (shown && !b.disabled && !b.classList.contains("mod-active"))
      found.push({kind: "button", index: i, name: `button ${i} '${b.textContent.trim()}'`});
  });
  cell.querySelectorAll(".widget-slider").forEach((s, i) => {
    if (!s.querySelector(".noUi-target[disabled]") && s.querySelector(".noUi-handle")) {
      const label = s.querySelector(".widget-label");
      found.push({kind: "slider", index: i, name: `slider '${label ? label.textContent.trim() : i}'`});
    }
  });
  cell.querySelectorAll(".jupyter-widgets select").forEach((m, i) => {
    if (!m.disabled) found.push({kind: "menu", index: i, name: `menu ${i}`});
  });
  return found;
}
"""


def _controls(page, cell):
    """The widget controls of a cell a learner can press or move now: (what, locator, action)."""
    found = []
    # Buttons are numbered: two may share a label (a stepper's server and client socket()).
    for control in cell.evaluate(_CONTROLS):
        if control["kind"] == "button":
            found.append((control["name"], cell.locator(".jupyter-widgets button").nth(control["index"]), "click"))
        elif control["kind"] == "slider":
            handle = cell.locator(".widget-slider").nth(control["index"]).locator(".noUi-handle").first
            found.append((control["name"], handle, "ArrowRight"))
        else:
            found.append((control["name"], cell.locator(".jupyter-widgets select").nth(control["index"]), "select"))
    return found


def _press(control, action) -> None:
    if action == "click":
        control.click()
    elif action == "select":
        options = control.locator("option")
        current = control.input_value()
        values = [options.nth(i).get_attribute("value") for i in range(options.count())]
        other = next((v for v in values if v != current), None)
        if other is not None:
            control.select_option(other)
    else:
        control.focus()
        control.press(action)


def _time_every_control(session, widget_cells, *, presses: int = 12) -> dict:
    """Press each widget control once; the seconds until the kernel had handled it (None: it sent nothing).

    The controls are looked up again after every press, in page order, so a
    widget that enables its next button after a press (a stepper) is walked
    through in the order its author laid out.
    """
    timings = {}
    for index in widget_cells:
        cell = drive.code_cell(session.page, index)
        done = set()
        for _ in range(presses):
            fresh = [(what, control, action) for what, control, action in _controls(session.page, cell)
                     if what not in done]
            if not fresh:
                break
            what, control, action = fresh[0]
            done.add(what)
            control.scroll_into_view_if_needed()
            start = time.monotonic()
            _press(control, action)
            answer = drive.kernel_answer(session.page, session.watch, start)
            timings[f"code cell {index}: {what}"] = None if answer is None else round(answer, 3)
    return timings


def _check_link_panel(session, facts) -> tuple[list, dict]:
    """Chapter 02's link panel moves the real link: the loss slider sets the link, the counts line follows."""
    page, problems, timings = session.page, [], {}
    sources = facts["sources"]
    panel = next(i for i, s in enumerate(sources) if "link_panel(" in s)
    echo = next(i for i, s in enumerate(sources) if i > panel and "playground.address" in s)
    drive.run_cell(page, panel)  # Run All's last cell stopped the link; this is a running one again
    drive.wait_for_widgets(page)
    box = drive.code_cell(page, panel).locator(".widget-vbox").first
    toggle = {t.strip(): box.locator(".widget-toggle-button").nth(i)
              for i, t in enumerate(box.locator(".widget-toggle-button").all_text_contents())}
    loss = box.locator(".widget-slider").filter(has_text=re.compile(r"^\s*loss"))
    readout = loss.locator(".widget-readout")
    counts = box.locator(":scope > .widget-label").first
    counts_before = counts.text_content()

    toggle["client → server"].click()
    start = time.monotonic()
    loss.locator(".noUi-handle").focus()
    loss.locator(".noUi-handle").press("End")  # the slider's end: every datagram to the server is lost
    answered = drive.kernel_answer(page, session.watch, start)
    timings["link panel: loss slider to its end"] = answered and round(answered, 3)
    if readout.text_content().strip() != "1.00":
        problems.append(f"The loss slider's readout shows {readout.text_content()!r} after End, not '1.00'.")

    probe = drive.append_cell(page, 'print(playground.settings["to_server"]["loss"], playground.settings["to_client"]["loss"])')
    drive.run_cell(page, probe)
    said = drive.cell_text(page, probe).strip()
    if said != "1.0 0.1":
        problems.append(f"After the client → server loss slider went to its end, the link's settings say "
                        f"to_server/to_client loss = {said!r}, not '1.0 0.1'.")

    # The other direction's settings come from the kernel: the readout changes only once it answered.
    start = time.monotonic()
    toggle["server → client"].click()
    try:
        page.wait_for_function("([el, want]) => el.textContent.trim() === want",
                               arg=[readout.element_handle(), "0.10"], timeout=10_000)
        timings["link panel: direction click until the sliders show its settings"] = round(time.monotonic() - start, 3)
    except Exception:
        problems.append(f"After clicking 'server → client' the loss readout shows {readout.text_content()!r}, "
                        f"not that direction's 0.10.")

    drive.run_cell(page, echo)
    echoed = drive.cell_text(page, echo)
    sent = re.search(r"(\d+) answers for (\d+) datagrams sent", echoed)
    if not sent or sent[1] != "0":
        problems.append(f"With loss 1.0 towards the server no echo may come back, but the echo cell said {echoed[:200]!r}.")
    start = time.monotonic()
    want = f"{sent[2] if sent else '?'} dropped"
    try:
        page.wait_for_function("([el, before, want]) => el.textContent !== before && el.textContent.includes(want)",
                               arg=[counts.element_handle(), counts_before, want], timeout=10_000)
        timings["link panel: counts line caught up after the echo cell"] = round(time.monotonic() - start, 3)
    except Exception:
        problems.append(f"The counts line should have changed from {counts_before!r} to say {want!r}; "
                        f"it shows {counts.text_content()!r}.")
    return problems, timings


def _notebook_problems(state, facts, name) -> list[str]:
    problems = []
    cells = state["cells"]
    if len(cells) != len(facts["sources"]):
        problems.append(f"JupyterLab shows {len(cells)} code cells, the file has {len(facts['sources'])}.")
    not_run = [i for i, c in enumerate(cells) if not re.match(r"^\[\d+\]", c["prompt"])]
    if not_run:
        problems.append(f"Code cells {not_run} (counted from 0) did not run.")
    for i, cell in enumerate(cells):
        for text in cell["stderr"]:
            problems.append(f"Code cell {i} wrote to stderr (an error or a warning):\n{text[:1500]}")
    images = [img for c in cells for img in c["images"] if not img["in_widget"]]
    broken = [i for i, c in enumerate(cells) for img in c["images"] if not img["loaded"]]
    if broken:
        problems.append(f"Images in code cells {broken} did not load.")
    if facts["has_outputs"] and len(images) != facts["images"]:
        problems.append(f"{len(images)} images were drawn; the committed notebook has {facts['images']}.")
    views = [(i, w) for i, c in enumerate(cells) for w in c["widgets"]]
    if facts["has_outputs"] and len(views) != facts["widgets"]:
        problems.append(f"{len(views)} widgets were drawn as widgets; the committed notebook has {facts['widgets']} "
                        f"(a widget shown as its text stand-in is not one).")
    for i, cell in enumerate(cells):
        for text in cell["trouble"]:
            problems.append(f"The widget of code cell {i} is not drawn: {text[:200]!r}.")
    fallbacks = {f.strip() for f in facts["fallbacks"] if f.strip()}
    for i, cell in enumerate(cells):
        for text in cell["plain"]:
            if text.strip() in fallbacks:
                problems.append(f"Code cell {i} shows a widget's text stand-in instead of the widget: {text[:120]!r}.")
    return problems


def _console_problems(errors) -> list[str]:
    left = [(kind, text) for kind, text in errors
            if not any(re.search(pattern, text) for pattern in ALLOWED_CONSOLE_ERRORS)]
    return [f"JavaScript {kind}: {text[:500]}" for kind, text in left]


@pytest.mark.timeout(RUN_ALL_TIMEOUT + 120)
@pytest.mark.parametrize("path", CHAPTERS + STUDENT_COPIES, ids=_notebook_id)
def test_notebook_runs_clean_in_the_browser(session, path, capsys, request):
    _ran.add(request.node.nodeid)
    name = _notebook_id(path)
    page, watch = session.page, session.watch
    facts = _committed(session.served(path))
    console_before = len(watch.console_errors)
    timings, problems, shots, phases = {}, [], [], {}
    started = time.monotonic()
    left = session.lab.shut_down_kernels()  # a kernel an earlier failure left must not slow this notebook
    kernel = drive.open_notebook(page, session.lab, str(path.relative_to(REPO)))
    opened = phases["open"] = time.monotonic() - started
    try:
        mark = time.monotonic()
        drive.render_all_cells(page, len(facts["sources"]))
        phases["render"] = time.monotonic() - mark
        seconds = phases["run_all"] = drive.run_all(page, len(facts["sources"]), timeout=RUN_ALL_TIMEOUT)
        mark = time.monotonic()
        state = drive.wait_for_widgets(page)
        problems += _notebook_problems(state, facts, name)
        phases["read"] = time.monotonic() - mark
        mark = time.monotonic()
        shots = drive.screenshots(page, SHOTS, name.replace("/", "-"), limit=SHOT_PARTS)
        phases["screenshots"] = time.monotonic() - mark
        mark = time.monotonic()
        if any("link_panel(" in s for s in facts["sources"]):
            more, link_timings = _check_link_panel(session, facts)
            problems += more
            timings.update(link_timings)
        # After the panel check, so that chapter 02's panel is live (Run All's last cell disables it).
        widget_cells = [i for i, c in enumerate(drive.read(page)["cells"]) if c["widgets"]]
        timings.update(_time_every_control(session, widget_cells))
        phases["widgets"] = time.monotonic() - mark
        news = [t for t in drive.toasts(page) if "news" in t.lower()]
        if news:
            problems.append(f"A news prompt is showing: {news}")
    except BaseException:
        page.screenshot(path=str(SHOTS / f"{name.replace('/', '-')}-failed.png"))
        try:
            drive.close_and_shut_down(page, session.lab, kernel)
        except Exception:
            pass  # the first failure is the one to report; the session's teardown ends the kernel anyway
        raise
    mark = time.monotonic()
    drive.close_and_shut_down(page, session.lab, kernel)
    phases["close"] = time.monotonic() - mark
    problems += _console_problems(watch.console_errors[console_before:])
    _report[name] = {"open_seconds": round(opened, 2), "run_all_seconds": round(seconds, 2),
                     "code_cells": len(facts["sources"]), "images": sum(len(c["images"]) for c in state["cells"]),
                     "widgets": sum(len(c["widgets"]) for c in state["cells"]), "screenshots": len(shots),
                     "kernel_answer_seconds": timings, "total_seconds": round(time.monotonic() - started, 2),
                     "phase_seconds": {k: round(v, 2) for k, v in phases.items()},
                     "kernels_left_by_an_earlier_test": left}
    with capsys.disabled():
        shown = ", ".join(f"{k}: {'no kernel message' if v is None else f'{v:.3f} s'}" for k, v in timings.items())
        print(f"\n  [browser] {name}: open {opened:.1f} s, Run All {seconds:.1f} s, "
              f"{_report[name]['images']} images, {_report[name]['widgets']} widgets"
              + (f"; clicks answered: {shown}" if shown else ""))
    assert not problems, f"{name} in the browser:\n- " + "\n- ".join(problems)


# A notebook that goes wrong in every way the test looks for; written into the served copy only.
_BROKEN_CELLS = [
    'import sys\nprint("a warning on stderr", file=sys.stderr)',
    'from IPython.display import display\ndisplay({"image/png": "bm90IGEgcG5n"}, raw=True)  # base64 of b"not a png"',
    'display({"application/vnd.jupyter.widget-view+json": {"model_id": "0" * 32, "version_major": 2, '
    '"version_minor": 0}, "text/plain": "VBox(nobody)"}, raw=True)',
    'from IPython.display import Javascript\ndisplay(Javascript("console.error(\'sockcourse: a console error on purpose\')"))',
    'raise ValueError("a traceback on purpose")',
    'print("never reached: Run All stops at the error above")',
]


@pytest.mark.timeout(120)
def test_the_checks_fail_a_notebook_that_goes_wrong(session, request):
    """The same checks, on a notebook with an error, a warning, a broken image, a missing widget and a console error."""
    _ran.add(request.node.nodeid)
    import nbformat

    path = session.lab.root / "notebooks" / "zz_broken_on_purpose.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in _BROKEN_CELLS],
                                            metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                                     "language": "python"}}), path)
    page, watch = session.page, session.watch
    console_before = len(watch.console_errors)
    facts = _committed(path)
    kernel = drive.open_notebook(page, session.lab, str(path.relative_to(session.lab.root)))
    try:
        drive.render_all_cells(page, len(facts["sources"]))
        drive.run_all(page, len(facts["sources"]), timeout=60)
        state = drive.wait_for_widgets(page, timeout=10)
        page.wait_for_timeout(500)  # the console error comes from the page, a moment after its output
        problems = _notebook_problems(state, facts, "broken") + _console_problems(watch.console_errors[console_before:])
    finally:
        drive.close_and_shut_down(page, session.lab, kernel)
        path.unlink()
    text = "\n".join(problems)
    for wanted in ("Code cells [5] (counted from 0) did not run", "Code cell 0 wrote to stderr",
                   "Code cell 4 wrote to stderr", "ValueError: a traceback on purpose", "Images in code cells [1] did not load",
                   "The widget of code cell 2 is not drawn", "JavaScript console.error: sockcourse: a console error on purpose"):
        assert wanted in text, f"The checks missed {wanted!r}; they said:\n{text}"


@pytest.mark.timeout(60)
def test_the_browser_fetched_nothing_and_asked_nothing(session, request):
    """After every notebook: the page talked to our server only, and never asked it to fetch news or updates."""
    _ran.add(request.node.nodeid)
    page, lab = session.page, session.lab
    own = f"http://127.0.0.1:{lab.port}/"
    # data: URLs and blob: URLs of the server's own origin are made inside the page, never fetched.
    foreign = sorted({url for _, url in session.watch.requests
                      if not url.startswith((own, "data:", "blob:" + own))})
    assert not foreign, f"The page asked for addresses other than the course's server: {foreign[:10]}"
    fetching = sorted({url.split("?")[0] for _, url in session.watch.requests
                       if any(url.startswith(own + e.lstrip("/")) for e in FETCHING_ENDPOINTS)})
    assert not fetching, f"JupyterLab asked its server to fetch from the internet: {fetching}"
    news = [t for t in drive.toasts(page) if "news" in t.lower()]
    assert not news, f"A news prompt showed during the run: {news}"


def test_ci_really_ran_the_browser_tests(request):
    """Under CI=true the browser tests must not skip: a missing Chromium or Playwright fails here."""
    if os.environ.get("CI") != "true":
        pytest.skip("only CI (CI=true) must run the browser tests; here: " + (_why_skipped() or "they can run"))
    reason = _why_skipped()
    assert reason is None, f"CI would skip the browser tests: {reason}"
    browser_tests = [item.nodeid for item in request.session.items
                     if getattr(item, "module", None) is request.module  # nbval cells have no module
                     and "session" in getattr(item, "fixturenames", ())]
    not_run = [nodeid for nodeid in browser_tests if nodeid not in _ran]
    assert not not_run, f"CI collected these browser tests, but they were skipped or never started: {not_run}"
