"""Chapter 04's live panel: a server model, a number of clients, one real measurement beside the saved curve.

`clients_panel()` returns an ipywidgets box with a picker of the four server
models (iterative, threads, selectors, asyncio), a slider for the number of
concurrent clients (10 to 500) and a Run button. A press makes one real
measurement, `manyclients.measure(model, clients, stall=STALL,
time_limit=TIME_LIMIT)`: a server process and a clients process on
loopback, as in the chapter's own sweep. The panel then says what came of
it (the time until every echo was back, how much the server's memory grew,
its threads, or that the clients gave up, and why) and draws the run as a
point on top of the saved full curve of that model
(`sockcourse/bench/measured.json`, 1 to 10,000 clients), with the function
given as `draw`: the notebook passes `viz.scaling` (widgets and viz are one
layer, so neither imports the other). Every live run of the panel stays on
the picture, so moving the slider and pressing again draws your own curve.

Bounds, so that a press stays small:
- the clients give up after TIME_LIMIT seconds, or when nothing moves for
  STALL seconds (the iterative server at more than one client);
- counts above MOST are refused with a sentence, and so is a count whose
  saved run took longer than the time limit (a learner's own saved file
  from a slow machine, say); the picture still shows the saved run there.

The measurement runs on a thread of the panel's own, so a click returns at
once and the panel says "running ..." until the result is in; `press()`
from code waits for the result and returns it as a `LivePress` (plain
data). That thread belongs to a `PanelWork`, a Stoppable registered only
while there is a run or a picture to do: `sockcourse.stop_all()`, the box's
close() and a new panel of the same name (which is what re-running the
cell makes) stop it. A run in progress cannot be cut short from outside
`manyclients.measure`, which owns its two processes and ends them itself;
stop() waits for it (a second or two; at most its own bounds) and the
pictures still to draw are dropped. Errors land in the panel, never in
nowhere.
"""

from __future__ import annotations

import html
import io
import json
import threading
import time
import weakref
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import ipywidgets as widgets

from ..bench import manyclients
from ..bench.manyclients import MODEL_NAMES, Run
from ..core.checks import check_choice, check_name, check_seconds
from ..core.errors import ArgumentTypeError, SockcourseError
from ..core.lifecycle import Stoppable
from ..core.limits import STOP_TIMEOUT
from .fallback import FallbackBox
from .problems import WARN, course_bug, warning

#: The counts the slider offers.
COUNTS = (10, 20, 50, 100, 200, 500)

#: The most clients one live press runs; the saved curve goes on to 10,000.
MOST = COUNTS[-1]

#: Seconds the clients may take for one live run before they give up.
TIME_LIMIT = 3.0

#: Seconds without progress after which the clients give up (the chapter's sweep uses the same).
STALL = 0.3

#: The largest time_limit a panel takes: a press is meant to be small.
MOST_TIME_LIMIT = 10.0

#: What the picture can show: the menu's word -> the metric of viz.scaling.
SHOWN = {"time": "seconds", "memory": "memory", "threads": "threads"}

#: How many pictures are kept drawn, for every panel (the same runs give the same picture).
PICTURES = 48

#: The figure's size in inches and its resolution.
FIGSIZE, DPI = (6.6, 4.0), 72

_pictures: dict[tuple, bytes] = {}
_pictures_lock = threading.Lock()
_live: weakref.WeakValueDictionary = weakref.WeakValueDictionary()   # name -> the newest panel of that name

_GOOD = "#009E73"   # Okabe-Ito bluish green


def press_bound(time_limit: float = TIME_LIMIT) -> float:
    """The most seconds one run can take by manyclients' own limits: the clients', and its processes' start and end."""
    return time_limit + STALL + manyclients.START_TIMEOUT + 2 * manyclients.SERVER_END_TIMEOUT


@dataclass
class LivePress:
    """What one press did: the model and count asked for, manyclients' Run, the sentence the panel shows."""

    model: str
    clients: int
    ran: bool                   # a measurement was made (whether every echo came back or not)
    said: str                   # the sentence shown in the panel
    run: Run | None = None      # manyclients.measure()'s result, plain data
    refused: str = ""           # why the press was not run, as shown in the panel
    error: str = ""             # why the measurement failed, as shown in the panel
    seconds: float = 0.0        # from the press until the panel showed the result (the picture may follow)

    @property
    def ok(self) -> bool:
        """Every connection got exactly its own message back."""
        return self.run is not None and self.run.ok


class _Job:
    """One press on its way: the worker fills in `result` and sets `done`."""

    def __init__(self, model: str, clients: int):
        self.model, self.clients = model, clients
        self.started = time.perf_counter()
        self.done = threading.Event()
        self.result: LivePress | None = None


class PanelWork(Stoppable):
    """The panel's thread while it has a run or a picture to do; stop() waits for a run in progress."""

    what = "many-clients panel"

    def __init__(self, panel: ClientsPanel):
        super().__init__(panel.name)
        self.panel = panel
        self.thread: threading.Thread | None = None
        self._launch()

    def _start(self) -> None:
        self.thread = self._spawn(self.panel._work_loop, "sockcourse-clients-panel", self)

    def _stop(self, timeout: float) -> None:
        # manyclients.measure() ends its processes itself, within its bounds; waiting for it is what stops them.
        job = self.panel._current
        wait = max(timeout, press_bound(self.panel.time_limit)) if job is not None else timeout
        late = self._join_all([self.thread], time.monotonic() + wait)
        if late:
            raise SockcourseError(f"The many-clients panel's thread was still working {wait:.0f} s after stop() "
                                  f"began; its measurement ends by itself within manyclients' own limits.")

    def __repr__(self) -> str:
        job = self.panel._current
        doing = f"running {job.model} at {job.clients} clients" if job is not None else "drawing"
        return f"<PanelWork {self.name!r}, {doing if self.running else 'stopped'}>"


class PanelBox(FallbackBox):
    """A VBox whose text form says how to measure without widgets, and whose close() stops the panel."""

    panel = None

    def close(self):
        if self.panel is not None and not self.panel.closed:
            self.panel.close(_from_box=True)
        super().close()


def _check_draw(draw):
    if draw is not None and not callable(draw):
        raise ArgumentTypeError(f"The draw argument must be a function that draws manyclients runs, such as "
                                f"viz.scaling, but got {draw!r} (type {type(draw).__name__}); pass "
                                f"draw=viz.scaling, or leave it out for the words alone.")
    return draw


def _check_saved(saved) -> tuple[list[Run], str]:
    """(runs, where they come from) of `saved`: None (the course's file), a path, or a list of manyclients.Run."""
    if saved is None:
        saved = manyclients.MEASURED
    if isinstance(saved, (str, Path)):
        runs, about = manyclients.load(saved)
        where = f"saved on {about.get('system', 'a machine')} with {about.get('cpus', '?')} CPUs" if about else \
            "saved"
        return runs, where
    rows = list(saved) if isinstance(saved, (list, tuple)) else None
    if not rows or not all(isinstance(run, Run) for run in rows):
        raise ArgumentTypeError(f"The saved runs must be a file that manyclients.save() wrote, or a list of "
                                f"manyclients.Run, but got {saved!r:.80}; leave it out for the course's own "
                                f"(manyclients.MEASURED), or pass saved_runs from manyclients.load().")
    return rows, "saved"


def _check_model(model) -> str:
    return check_choice(model, "model", MODEL_NAMES, example="threads")


def _check_clients(clients) -> int:
    if isinstance(clients, bool) or not isinstance(clients, int):
        raise ArgumentTypeError(f"The number of clients must be a whole number, such as 100, but got {clients!r} "
                                f"(type {type(clients).__name__}); the slider offers "
                                f"{', '.join(map(str, COUNTS))}.")
    return clients


def saved_seconds(saved: list[Run], model: str, clients: int) -> tuple[int, float] | None:
    """The saved run that says most about `clients` live: (its count, its seconds), or None if none served everyone.

    The smallest saved count at or above `clients` (time grows with the count,
    so that is an upper bound), else the largest below it, scaled up in
    proportion to the count.
    """
    served = sorted((run.clients, run.seconds) for run in saved
                    if run.model == model and run.ok and run.seconds is not None)
    if not served:
        return None
    above = [(count, seconds) for count, seconds in served if count >= clients]
    if above:
        return above[0]
    count, seconds = served[-1]
    return count, seconds * clients / count


def describe(run: Run) -> str:
    """One sentence on a live run: its time, memory and threads, or why it gave up."""
    held = f" and held {run.held:,} at once" if run.held is not None else ""
    if run.note:
        return f"{run.model} at {run.clients:,} clients was {run.note}."
    threads = (f"{run.threads:,} threads (the main one and {run.threads - 1:,} serving)"
               if run.threads is not None else "its threads unknown")
    memory = f"{run.memory_mib:.1f} MiB" if run.memory_mib is not None else "an unknown amount"
    if run.ok:
        took = "under 1 ms" if run.seconds < 0.001 else f"{run.seconds:.3f} s"
        said = (f"{run.model} served {run.clients:,} concurrent clients, every echo right, in {took}; the server "
                f"process's memory grew {memory}, it had {threads}{held}.")
    else:
        why = run.gave_up or (", ".join(f"{n} {reason}" for reason, n in run.failed.items()) if run.failed else
                              f"{run.wrong} echoes came back wrong" if run.wrong else "not every echo came back")
        said = (f"{run.model} did not serve {run.clients:,} concurrent clients: {why}. It had {threads}{held}; "
                f"{run.echoed:,} of {run.clients:,} echoes came back.")
    if run.server_error:
        said += f" The server process said: {run.server_error[-200:]}"
    return said


def _fingerprint(runs) -> str:
    return json.dumps([asdict(run) for run in runs], sort_keys=True, default=str)


def _key(draw, saved_rows: list[Run], live_rows: list[Run], metric: str) -> tuple:
    return (getattr(draw, "__module__", None), getattr(draw, "__qualname__", repr(draw)), metric,
            _fingerprint(saved_rows), _fingerprint(live_rows))


def picture_rows(saved: list[Run], model: str, live: list[Run]) -> tuple[list[Run], list[Run]]:
    """The saved runs and the live ones (renamed "MODEL, live") that one picture of `model` draws.

    The live runs that served everyone make a line of their own; a newest
    live run that gave up is a cross with its reason, and then the saved
    runs that gave up are left out, so two reasons never write over each other.
    """
    mine = [run for run in saved if run.model == model]
    points = [replace(run, model=f"{model}, live") for run in live if run.ok]
    if live and not live[-1].ok and not live[-1].note:
        points.append(replace(live[-1], model=f"{model}, live"))
        mine = [run for run in mine if run.ok or run.note]
    points.sort(key=lambda run: run.clients)
    return mine, points


def draw_picture(saved: list[Run], model: str, metric: str, live: list[Run], draw) -> bytes | None:
    """The saved curve of `model` with the live runs on it, drawn by `draw` (viz.scaling), as PNG bytes.

    None when there is nothing to draw (the saved runs have no such model and
    nothing ran live). The same runs are drawn once.
    """
    mine, points = picture_rows(saved, model, live)
    if not mine and not points:
        return None
    key = _key(draw, mine, points, metric)
    with _pictures_lock:
        if key in _pictures:
            return _pictures[key]
    from matplotlib.figure import Figure  # not pyplot: the figure is never shown, so nothing keeps it open

    figure = Figure(figsize=FIGSIZE, layout="constrained")
    title = f"{model}: the saved run" + (" and yours, live" if points else "")
    draw(mine + points, metric, ax=figure.subplots(), title=title)
    png = io.BytesIO()
    figure.savefig(png, format="png", dpi=DPI)
    with _pictures_lock:
        if len(_pictures) >= PICTURES:
            _pictures.pop(next(iter(_pictures)))
        _pictures[key] = png.getvalue()
    return _pictures[key]


class ClientsPanel:
    """What the panel does: one live measurement per press, beside the saved curve of the model picked."""

    def __init__(self, saved=None, *, draw=None, name: str = "many clients panel", time_limit: float = TIME_LIMIT):
        self.name = check_name(name, "name")
        self.draw = _check_draw(draw)
        self.time_limit = check_seconds(time_limit, "time_limit", none_ok=False, maximum=MOST_TIME_LIMIT,
                                        example=TIME_LIMIT)
        self.saved, self.saved_where = _check_saved(saved)
        # A panel made again under the same name (its cell run again) replaces the old one: its work ends.
        older = _live.get(self.name)
        if older is not None:
            older.close()
        _live[self.name] = self
        self._lock = threading.RLock()
        self._closed = False
        self._work: PanelWork | None = None
        self._pending: _Job | None = None      # pressed, not yet started by the worker
        self._current: _Job | None = None      # being measured now
        self._want_picture = False
        self.live: dict[str, dict[int, Run]] = {model: {} for model in MODEL_NAMES}
        self.newest: dict[str, Run] = {}       # model -> its newest live run, for the picture's cross
        self.presses: list[LivePress] = []

        self.model = widgets.ToggleButtons(options=list(MODEL_NAMES), value="threads", description="server",
                                           style={"button_width": "auto"},
                                           tooltips=["one client at a time", "a thread per client",
                                                     "one thread, selectors", "one thread, asyncio"])
        self.clients = widgets.SelectionSlider(options=list(COUNTS), value=100, description="clients",
                                               continuous_update=False)
        self.run_button = widgets.Button(description="Run", button_style="primary",
                                         tooltip="measure this model against this many clients, live")
        self.metric = widgets.ToggleButtons(options=list(SHOWN), value="time", description="show",
                                            style={"button_width": "auto"})
        self.status = widgets.HTML()
        self.call = widgets.HTML()
        self.problem = widgets.HTML()
        self.picture = widgets.Image(format="png", layout=widgets.Layout(max_width="640px"))
        self.caption = widgets.HTML()
        self.picture_slot = widgets.VBox([self.caption])  # the Image joins with its first picture
        self.model.observe(lambda _c: self._guard("the model picker", self._view_changed), names="value")
        self.metric.observe(lambda _c: self._guard("the picture menu", self._view_changed), names="value")
        self.clients.observe(lambda _c: self._guard("the slider", self._show_call), names="value")
        self.run_button.on_click(lambda _b: self._guard("Run", self._click))
        self.box = PanelBox([self.model, widgets.HBox([self.clients, self.run_button]), self.call, self.status,
                             self.problem, self.metric, self.picture_slot])
        self.box.fallback = fallback_text()
        self.box.panel = self
        self._show_call()
        self.status.value = ("<i>Pick a server model and a number of clients, then press Run: one small "
                             "measurement on this machine, drawn on the saved curve below.</i>")
        # The saved curve at once, so the box is whole from the start (about a third of a second).
        self._guard("drawing the saved curve", self._draw_wanted)

    # -- pressing -----------------------------------------------------------------------
    def allowed(self, model: str, clients: int) -> str:
        """'' if a press of (model, clients) would run now, else the sentence saying why not."""
        if self._closed:
            return ("This panel is closed (close(), stop_all() or its cell run again); run its cell again "
                    "for a new one.")
        job = self._current or self._pending
        if job is not None:
            return (f"A live run is going already ({job.model} at {job.clients:,} clients); wait for its result, "
                    f"a second or two, then press Run again.")
        if clients < 1:
            return f"A run needs at least one client, but got {clients}; pick 10 or more on the slider."
        if clients > MOST:
            most = max((run.clients for run in self.saved if run.model == model), default=None)
            beyond = f" the saved curve goes on to {most:,}," if most else ""
            return (f"{clients:,} clients is more than this panel runs live (at most {MOST}, so that a press "
                    f"stays small):{beyond} and python -m sockcourse bench, in a terminal, measures more.")
        guess = saved_seconds(self.saved, model, clients)
        if guess is not None and guess[1] > self.time_limit:
            count, seconds = guess
            return (f"The saved run of {model} took {seconds:.2f} s at {count:,} clients, so {clients:,} would "
                    f"likely pass the live time limit of {self.time_limit:g} s; pick fewer clients.")
        return ""

    def press(self, model: str, clients: int) -> LivePress:
        """Run one live measurement, as a click on Run would, and wait for its result (bounded)."""
        model, clients = _check_model(model), _check_clients(clients)
        job = self._start(model, clients)
        if isinstance(job, LivePress):
            return job  # refused, and the panel says why
        bound = press_bound(self.time_limit)
        if not job.done.wait(bound + STOP_TIMEOUT):
            error = f"No result came within {bound + STOP_TIMEOUT:.0f} s; this is a bug in the course."
            self._say_problem(error)
            return LivePress(model, clients, False, "", error=error, seconds=time.perf_counter() - job.started)
        return job.result

    def _click(self) -> None:
        self._start(self.model.value, self.clients.value)

    def _start(self, model: str, clients: int):
        """Hand the run to the panel's thread, or refuse it in the panel: the _Job, or the refusal as a LivePress."""
        with self._lock:
            why_not = self.allowed(model, clients)
            if why_not:
                self._say_problem(why_not)
                refused = LivePress(model, clients, False, "", refused=why_not)
                self.presses.append(refused)
                return refused
            job = _Job(model, clients)
            self._pending = job
            self.problem.value = ""
            if self.model.value != model:
                self.model.value = model   # the picture follows the model pressed
            if clients in COUNTS and self.clients.value != clients:
                self.clients.value = clients
            self._show_call(model, clients)
            self.run_button.description = "running ..."
            self.status.value = (f"<i>running: {html.escape(model)} against {clients:,} concurrent clients, "
                                 f"live (the clients give up after {self.time_limit:g} s) ...</i>")
            self._ensure_worker()
            return job

    def _guard(self, what: str, action):
        """Run a callback; an error of the course's own lands in the panel, never in nowhere."""
        try:
            return action()
        except Exception as exc:  # noqa: BLE001 - a callback's error would vanish; this is the course's fault
            self._say_problem(course_bug(f"The panel failed at {what}", exc, "what you picked"))
            return None

    def _say_problem(self, sentence: str) -> None:
        self.problem.value = warning(sentence)

    # -- the panel's thread -------------------------------------------------------------
    def _ensure_worker(self) -> None:
        """Start the panel's thread if it is not running (called with the lock held)."""
        if self._work is None and not self._closed:
            self._work = PanelWork(self)

    def _work_loop(self, work: PanelWork) -> None:
        """Measure what was pressed, then draw what is wanted, until nothing is; then end."""
        while True:
            with self._lock:
                if not work.running or self._closed:
                    left = self._pending
                    self._pending = None
                    self._work = None if self._work is work else self._work
                    break
                if self._pending is not None:
                    job, self._pending = self._pending, None
                    self._current = job
                elif self._want_picture:
                    job, self._want_picture = None, False
                else:
                    self._work = None if self._work is work else self._work
                    left = None
                    break
            if job is not None:
                try:
                    self._guard("showing the live run", lambda: self._measure(job))
                finally:
                    with self._lock:
                        self._current = None
                    if job.result is None:  # the panel failed after the run; the sentence is in the panel
                        job.result = LivePress(job.model, job.clients, False, "", error=self.problem.value)
                    job.done.set()
            else:
                self._guard("drawing the picture", self._draw_wanted)
        if left is not None:  # stopped before its run began
            left.result = LivePress(left.model, left.clients, False, "", error=self._stopped_words())
            left.done.set()
        if not self._closed and not work.running:
            self.run_button.description = "Run"
            self._say_problem(self._stopped_words())
        work.stop()  # from its own thread: leaves the registry without waiting for itself

    @staticmethod
    def _stopped_words() -> str:
        return ("The panel's work was stopped from outside (sockcourse.stop_all(), or a cell run again); a run "
                "in progress finished first, and nothing else was started. Press Run for a new one.")

    def _measure(self, job: _Job) -> None:
        run, error = None, ""
        try:
            run = manyclients.measure(job.model, job.clients, stall=STALL, time_limit=self.time_limit)
        except SockcourseError as exc:  # a process that would not start, say: the course's words
            error = f"The live run of {job.model} at {job.clients:,} clients could not be made: {exc}"
        except Exception as exc:  # noqa: BLE001 - a thread's error would vanish; the panel shows it
            error = (f"The live run of {job.model} at {job.clients:,} clients failed ({type(exc).__name__}: {exc}); "
                     f"this is a bug in the course.")
        with self._lock:
            if run is not None:
                said = describe(run)
                guess = saved_seconds(self.saved, job.model, job.clients)
                if guess is not None and guess[0] == job.clients:
                    took = "under 1 ms" if guess[1] < 0.001 else f"{guess[1]:.3f} s"
                    said += (f" The run {self.saved_where} took {took} at {job.clients:,} (another machine, "
                             f"perhaps: compare the shape, not the number).")
                self.live[job.model][job.clients] = run
                self.newest[job.model] = run
                self._want_picture = self.draw is not None
            else:
                said = ""
            result = LivePress(job.model, job.clients, run is not None, said, run, error=error)
            self.run_button.description = "Run"
            colour = _GOOD if result.ok else WARN
            head = "served" if result.ok else ("not run" if run is not None and run.note else "gave up")
            self.status.value = "" if run is None else \
                f"<b style='color:{colour}'>{head}</b>: {html.escape(said)}"
            if error:
                self._say_problem(error)
            result.seconds = time.perf_counter() - job.started
            if run is not None:
                self.status.value += (f" <i>(the press took {result.seconds:.1f} s, starting and ending its "
                                      f"two processes included)</i>")
                if self.draw is not None:
                    self.caption.value = "<i>drawing your run on the saved curve ...</i>"
            self.presses.append(result)
            job.result = result

    # -- the picture ------------------------------------------------------------------------
    def _view(self) -> tuple[str, str, list[Run]]:
        model = self.model.value
        live = sorted(self.live[model].values(), key=lambda run: run.clients)
        newest = self.newest.get(model)
        if newest is not None and newest in live:
            live.remove(newest)
            live.append(newest)  # last: picture_rows() looks at the newest run for its cross
        return model, SHOWN[self.metric.value], live

    def _view_changed(self) -> None:
        """The model or the metric changed: show its picture, from the ones drawn, or ask the thread to draw it."""
        self._show_call()
        if self.draw is None:
            return
        model, metric, live = self._view()
        mine, points = picture_rows(self.saved, model, live)
        with _pictures_lock:
            png = _pictures.get(_key(self.draw, mine, points, metric)) if mine or points else None
        if png is not None:
            self._put_picture(png, (model, metric, live))
            return
        with self._lock:
            self._want_picture = True
            self.caption.value = "<i>drawing the saved curve ...</i>"
            self._ensure_worker()

    def _draw_wanted(self) -> None:
        if self.draw is None:
            return  # no function to draw with: the words are the whole answer
        view = self._view()
        png = draw_picture(self.saved, view[0], view[1], view[2], self.draw)
        with self._lock:
            if self._view() != view:
                return  # the learner picked something else meanwhile; that picture is on its way
        if png is None:
            self.caption.value = f"<i>The saved runs have no {html.escape(view[0])} to draw; press Run.</i>"
        else:
            self._put_picture(png, view)


    def _put_picture(self, png: bytes, view: tuple) -> None:
        model, metric, live = view
        self.picture.value = png
        newest = live[-1] if live else None
        if newest is not None and not newest.ok and metric != "seconds":
            # Only the time view has a place for a run that never finished: the band at its top.
            self.caption.value = (f"<i>Your newest {html.escape(model)} run did not serve everyone, so it has no "
                                  f"point here; show time to see it as a cross with its reason.</i>")
        else:
            self.caption.value = ""
        if self.picture not in self.picture_slot.children:
            self.picture_slot.children = (self.picture, self.caption)

    def _show_call(self, model: str | None = None, clients: int | None = None) -> None:
        model = model or self.model.value
        clients = clients or self.clients.value
        self.call.value = (f"<b>the call:</b> <code>manyclients.measure({model!r}, {clients}, stall={STALL}, "
                           f"time_limit={self.time_limit:g})</code>")

    def wait(self, timeout: float = 30.0) -> bool:
        """Wait at most `timeout` seconds until the run and the pictures asked for are done; True if they are."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                work = self._work
            if work is None:
                return True
            work.thread.join(min(0.1, max(0.0, deadline - time.monotonic())))
        with self._lock:
            return self._work is None

    # -- the end ---------------------------------------------------------------------------
    @property
    def closed(self) -> bool:
        return self._closed

    def close(self, *, _from_box: bool = False) -> None:
        """Stop the panel's thread (after a run in progress), drop the pictures still to draw; safe twice."""
        with self._lock:
            self._closed = True
            work = self._work
        if work is not None and work.thread is not threading.current_thread():
            try:
                work.stop()
            except SockcourseError as exc:
                self._say_problem(str(exc))
        for control in (self.model, self.clients, self.run_button, self.metric):
            control.disabled = True
        self.run_button.description = "Run"
        self.status.value = "This panel is closed; run its cell again for a new one."
        if not _from_box:
            self.box.close()


def fallback_text() -> str:
    """The box's text form: the same measurement as a plain call, where widgets do not render."""
    lines = ["The many-clients panel (a widget: in JupyterLab it has a picker of the server model, a slider",
             "for the number of clients and a Run button). Without widgets, make the same live run yourself",
             "and compare it with the saved one:",
             "    from sockcourse import manyclients",
             f"    run = manyclients.measure('threads', 100, stall={STALL}, time_limit={TIME_LIMIT:g})",
             "    print(run.ok, run.seconds, run.memory_mib, run.threads, run.gave_up)",
             "    saved, about = manyclients.load(manyclients.MEASURED)",
             "    print([(r.clients, r.seconds) for r in saved if r.model == 'threads'])",
             f"It offers the models {', '.join(MODEL_NAMES)}, and {', '.join(map(str, COUNTS))} clients."]
    return "\n".join(lines)


def clients_panel(saved=None, *, draw=None, name: str = "many clients panel",
                  time_limit: float = TIME_LIMIT) -> PanelBox:
    """Chapter 04's live panel, a box to display in a cell (its .panel is the ClientsPanel behind it).

    saved: the runs to draw the full curves from: None for the course's own
        (manyclients.MEASURED), a file manyclients.save() wrote, or a list
        of manyclients.Run such as manyclients.load() returns.
    draw: the function that draws the runs, viz.scaling; without it the
        panel shows the words alone.
    name: a new panel of the same name stops the older one's work, so
        running the cell again leaves nothing behind.
    time_limit: seconds the clients of one live run may take (at most 10).
    """
    return ClientsPanel(saved, draw=draw, name=name, time_limit=time_limit).box
