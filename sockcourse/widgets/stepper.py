"""Chapter 01's lifecycle stepper: one button per socket call, on a real pair of sockets, the kernel's view after each.

`lifecycle_stepper()` returns an ipywidgets box with the server's calls
(socket, bind, listen, accept), the client's (socket, connect, sendall,
shutdown) and a close of both. Each button makes its call on real loopback
sockets (port 0), and is enabled only when its call makes sense next; after
each press the box shows the code run so far, what the call returned, the
kernel's table of states (`kernel.states`) and the state diagram drawn from
that table by the function given as `draw` (the notebook passes
`viz.state_diagram`: widgets and viz are one layer, so neither imports the
other), as a PNG made in memory.

The order is the chapter's: the server's socket, bind, listen, in that
order, and the client's socket at any time before its connect; then accept,
send (as often as you like), the client's shutdown(SHUT_WR) and the close.
A press in the wrong order is refused with a sentence in the panel, never
an exception into nowhere; so is a call the kernel refuses.

The sockets of one round belong to a `StepperRound`, a Stoppable that is
registered from the round's first press until it ends: "start over", the
box's close(), `sockcourse.stop_all()`, or a new stepper of the same name
(which is what re-running the stepper's cell makes) close them all. So
`sockcourse.running()` lists the stepper only while it holds sockets.
"""

from __future__ import annotations

import html
import io
import socket
import threading
import time
import weakref
from dataclasses import dataclass

import ipywidgets as widgets

from ..core.checks import check_name
from ..core.errors import ArgumentError, ArgumentTypeError
from ..core.lifecycle import Stoppable, stop_named
from ..core.limits import STOP_TIMEOUT
from ..kernel import accept_queue, states
from ..kernel.view import StateTable
from .fallback import FallbackBox
from .problems import course_bug, warning

#: Seconds any one call may wait (connect, accept, recv), and that states() waits for the expected states.
WAIT = 1.0

#: The bytes the client's sendall() sends.
MESSAGE = b"hello\n"

#: How many state diagrams are kept drawn (one per distinct set of states seen), for every stepper.
PICTURES = 24

#: Seconds close() waits for a diagram still being drawn.
DRAW_JOIN = STOP_TIMEOUT

_pictures: dict[tuple, bytes] = {}   # (role, state) rows -> PNG: the same states give the same picture
_pictures_lock = threading.Lock()
_live: weakref.WeakValueDictionary = weakref.WeakValueDictionary()   # name -> the newest Stepper of that name



@dataclass(frozen=True)
class Step:
    """One button: its press() name, its label, whose call it is, the code it runs and what it needs first."""

    name: str
    label: str
    side: str                   # "server", "client" or "both"
    code: str                   # the Python the step runs, as a learner would write it
    needs: tuple = ()           # steps that must have been pressed before
    because: str = ""           # why, in the words of the refusal
    again: bool = False         # may be pressed more than once in a round
    expect: tuple = ()          # kernel states to wait for after the call (until=)


STEPS = (
    Step("server socket", "socket()", "server", "listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)"),
    Step("bind", "bind()", "server", 'listener.bind(("127.0.0.1", 0))', ("server socket",),
         "bind() gives an address to a socket, so the socket must exist"),
    Step("listen", "listen()", "server", "listener.listen()", ("bind",),
         "a listener must have an address that clients can connect to", expect=("LISTEN",)),
    Step("client socket", "socket()", "client", "client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)"),
    Step("connect", "connect()", "client", "client.connect(listener.getsockname())", ("client socket", "listen"),
         "connect() sends its SYN from the client's socket to a port where someone listens (else the kernel "
         "answers with a reset: ConnectionRefusedError)", expect=("ESTABLISHED",)),
    Step("accept", "accept()", "server", "conn, peer = listener.accept()", ("connect",),
         "accept() takes a finished handshake out of the listener's queue, and there is none yet",
         expect=("ESTABLISHED",)),
    Step("send", "sendall()", "client", f"client.sendall({MESSAGE!r})\nconn.recv(1024)", ("accept",),
         "the server reads with the socket accept() returns", again=True),
    Step("shutdown", "shutdown(SHUT_WR)", "client", "client.shutdown(socket.SHUT_WR)\nconn.recv(1024)", ("accept",),
         "the server should see the end of the stream on the socket accept() returns",
         expect=("FIN_WAIT2", "CLOSE_WAIT")),
    Step("close", "close() both", "both", "conn.close()\nclient.close()\nlistener.close()", ("shutdown",),
         "in this round the client says it is done first, so that you see the half-close",
         expect=("TIME_WAIT",)),
)
_BY_NAME = {step.name: step for step in STEPS}
_AMBIGUOUS = {"socket": ("server socket", "client socket"), "sendall": ("send",), "close both": ("close",)}


@dataclass
class Pressed:
    """What one press did: the step, whether it ran, the sentence shown, the kernel's table after it."""

    step: str
    ran: bool
    said: str
    table: StateTable | None = None
    seconds: float = 0.0        # from the press to the panel updated (the picture may follow: wait_drawn())
    error: str = ""             # a refusal or a failed call, as shown in the panel


class StepperRound(Stoppable):
    """The sockets of one round of the stepper; stop() closes them all (start over, close(), stop_all())."""

    what = "lifecycle stepper"

    def __init__(self, name: str, on_stop):
        super().__init__(name, explicit_name=name)
        self.listener: socket.socket | None = None
        self.client: socket.socket | None = None
        self.conn: socket.socket | None = None
        self.server_port: int | None = None
        self.client_address: tuple | None = None
        self._on_stop = on_stop
        self._launch()

    def sockets(self) -> list[socket.socket]:
        return [s for s in (self.conn, self.client, self.listener) if s is not None]

    def _close(self) -> None:
        for sock in self.sockets():
            sock.close()
        self._on_stop(self)

    def __repr__(self) -> str:
        open_ = sum(s.fileno() != -1 for s in self.sockets())
        state = "running" if self.running else "stopped"
        return f"<StepperRound {self.name!r}, {open_} open socket{'s' * (open_ != 1)}, {state}>"


class StepperBox(FallbackBox):
    """A VBox whose text form tells what to do where widgets do not render, and whose close() closes the sockets."""

    stepper = None

    def close(self):
        if self.stepper is not None and not self.stepper.closed:
            self.stepper.close(_from_box=True)
        super().close()


class Stepper:
    """What the stepper does: runs one socket call per press, keeps the round's sockets, shows the kernel's view."""

    def __init__(self, *, name: str = "lifecycle stepper", draw=None):
        self.name = check_name(name, "name")
        if draw is not None and not callable(draw):
            raise ArgumentTypeError(f"The draw argument must be a function that draws a kernel.states() table, "
                                    f"such as viz.state_diagram, but got {draw!r} (type {type(draw).__name__}); "
                                    f"pass draw=viz.state_diagram, or leave it out for the table alone.")
        self.draw = draw
        # A stepper made again under the same name (its cell run again) replaces the old one, as serve(name=) does:
        # its round (even one registered under another cell) and its drawing end.
        older = _live.get(self.name)
        if older is not None:
            older.close(wait=False)
        stop_named(self.name)
        _live[self.name] = self
        self._lock = threading.RLock()
        self.round: StepperRound | None = None
        self.done: list[str] = []
        self._closed = False
        # The state diagram takes about a second of CPU to draw, so it is drawn on a thread of the stepper's
        # own: a press answers at once with the states as text, and the picture follows.
        self._draw_lock = threading.Lock()
        self._wanted: StateTable | None = None   # the newest table whose picture is still to draw
        self._generation = 0                      # counts requests, so an older drawing never covers a newer one
        self._drawer: threading.Thread | None = None
        self._drawn = threading.Event()
        self._drawn.set()
        self.buttons = {step.name: widgets.Button(description=step.label, tooltip=step.code.replace("\n", "; "))
                        for step in STEPS}
        for step_name, button in self.buttons.items():
            button.on_click(self._clicker(step_name))
        self.restart = widgets.Button(description="start over", button_style="warning",
                                      tooltip="close every socket and begin again")
        self.restart.on_click(lambda _b: self._guard("start over", self.start_over))
        self.program = widgets.HTML()
        self.said = widgets.HTML()
        self.problem = widgets.HTML()
        self.table = widgets.HTML()
        self.picture = widgets.Image(format="png", layout=widgets.Layout(max_width="640px"))
        self.caption = widgets.HTML()
        # The Image joins the box with its first picture: an <img> without one would show as a broken image.
        self.picture_slot = widgets.VBox([self.caption])

        def row(side, title):
            return widgets.HBox([widgets.HTML(f"<b style='display:inline-block;width:4.5em'>{title}</b>"),
                                 *(self.buttons[s.name] for s in STEPS if s.side == side)])
        self.box = StepperBox([row("server", "server"), row("client", "client"),
                               widgets.HBox([widgets.HTML("<b style='display:inline-block;width:4.5em'>both</b>"),
                                             self.buttons["close"], self.restart]),
                               self.problem, self.said, widgets.HBox([self.program, self.table]), self.picture_slot])
        self.box.fallback = fallback_text()
        self.box.stepper = self
        self._show(None, "Press a button: the server's socket() or the client's socket() comes first.")

    # -- what a press does ------------------------------------------------------------
    def allowed(self, step_name: str) -> str:
        """'' if the step may be pressed now, else the sentence saying why not."""
        step = _BY_NAME[step_name]
        if self._closed:
            return ("This stepper is closed (close(), stop_all() or its cell run again closed its sockets); "
                    "run its cell again for a new one.")
        if "close" in self.done:
            return "This round is over: every socket is closed. Press start over for a new round."
        if step.name in self.done and not step.again:
            return f"You pressed {step.name} already in this round; press start over to begin again."
        if "shutdown" in self.done and step.name == "send":
            return ("The client called shutdown(SHUT_WR), so it has told the server it will send nothing more; "
                    "sendall() would fail with BrokenPipeError. Press close next.")
        missing = [need for need in step.needs if need not in self.done]
        if missing:
            return f"Not yet: {step.name} needs {' and '.join(missing)} first, because {step.because}."
        return ""

    def press(self, step_name: str) -> Pressed:
        """Press one button from code, as a click would: press('connect'); returns what the press did."""
        if not isinstance(step_name, str):
            raise ArgumentTypeError(f"press() takes the name of a step as a string, such as 'connect', but got "
                                    f"{step_name!r}; the steps are {', '.join(map(repr, _BY_NAME))}.")
        if step_name not in _BY_NAME:
            near = _AMBIGUOUS.get(step_name)
            hint = (f"say {' or '.join(map(repr, near))}" if near else
                    f"the steps are {', '.join(map(repr, _BY_NAME))}")
            raise ArgumentError(f"The stepper has no step called {step_name!r}; {hint}.")
        return self._guard(step_name, lambda: self._press(step_name))

    def _clicker(self, step_name: str):
        return lambda _button: self._guard(step_name, lambda: self._press(step_name))

    def _guard(self, what: str, action) -> Pressed:
        """Run a press; an error of the course's own lands in the panel, never in nowhere."""
        started = time.perf_counter()
        try:
            return action()
        except Exception as exc:  # noqa: BLE001 - a callback's error would vanish; this is the course's fault
            error = course_bug(f"The stepper failed at {what}", exc, "what you pressed") + " Press start over to begin again."
            self.problem.value = warning(error)
            return Pressed(what, False, "", None, time.perf_counter() - started, error)

    def _press(self, step_name: str) -> Pressed:
        started = time.perf_counter()
        with self._lock:
            why_not = self.allowed(step_name)
            if why_not:
                self.problem.value = warning(why_not)
                return Pressed(step_name, False, "", None, time.perf_counter() - started, why_not)
            if self.round is None:
                self.round = StepperRound(self.name, self._round_stopped)
            step = _BY_NAME[step_name]
            try:
                said = self._run(step, self.round)
            except OSError as exc:  # the kernel said no: shown, and the round goes on from where it was
                error = (f"The call {step.code.splitlines()[0]} failed: {type(exc).__name__}: {exc}. "
                         f"Press start over to begin again.")
                table = self._show(step, "", error)
                return Pressed(step_name, False, "", table, time.perf_counter() - started, error)
            self.done.append(step_name)
            table = self._show(step, said)
            if step.name == "close":
                self.round.stop()  # every socket is closed already; this takes the round off the list
            return Pressed(step_name, True, said, table, time.perf_counter() - started)

    def _run(self, step: Step, r: StepperRound) -> str:
        """Make the step's call on the round's sockets; the sentence saying what came of it."""
        if step.name == "server socket":
            r.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            return "The kernel made a socket for the server; it has no address yet, so no table shows it."
        if step.name == "bind":
            r.listener.bind(("127.0.0.1", 0))
            r.server_port = r.listener.getsockname()[1]
            return ("The listener has an address now (port 0 let the kernel pick a free port), but it takes part "
                    "in no connection, so the kernel's TCP table still does not list it.")
        if step.name == "listen":
            r.listener.listen()
            return "The kernel now answers handshakes on this port by itself: the listener is in LISTEN."
        if step.name == "client socket":
            r.client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            r.client.settimeout(WAIT)  # every wait has a limit
            return "The kernel made a socket for the client; it has no address until it connects."
        if step.name == "connect":
            r.client.connect(r.listener.getsockname())
            r.client_address = r.client.getsockname()
            return ("The three-way handshake is done: the client is ESTABLISHED, and so is a server end that waits "
                    "in the listener's accept queue, although nobody called accept() yet.")
        if step.name == "accept":
            r.listener.settimeout(WAIT)
            r.conn, _peer = r.listener.accept()
            r.conn.settimeout(WAIT)
            return ("accept() took the waiting connection out of the queue and returned it as a new socket, conn; "
                    "the listener goes on listening.")
        if step.name == "send":
            r.client.sendall(MESSAGE)
            got = r.conn.recv(1024)
            return f"The client sent {MESSAGE!r}; the server's recv() returned {got!r}. The states do not change."
        if step.name == "shutdown":
            r.client.shutdown(socket.SHUT_WR)
            got = r.conn.recv(1024)
            return (f"The client's FIN arrived: the server's recv() returned {got!r}, the end of the stream. The "
                    f"client waits in FIN_WAIT2 for the server's FIN, the server end is in CLOSE_WAIT.")
        if step.name == "close":
            for sock in (r.conn, r.client, r.listener):
                sock.close()
            return ("The server end closed (its FIN went to the client), then the client and the listener. The "
                    "kernel keeps the client's side of the connection in TIME_WAIT for a while (60 s on Linux).")
        raise ArgumentError(f"The stepper has no call for the step {step.name!r}.")  # STEPS and _run disagree

    # -- what the panel shows -----------------------------------------------------------
    def _table(self, step: Step | None) -> StateTable:
        r = self.round
        if r is None or r.server_port is None:
            return StateTable()
        things = [r.server_port] + ([r.client_address] if r.client_address else [])
        return states(*things, until=step.expect if step else None, timeout=WAIT)

    def _show(self, step: Step | None, said: str, error: str = "") -> StateTable:
        # After a failed call the expected states will not come: ask once, without waiting for them.
        table = self._table(None if error else step)
        lines = [s.code for s in (_BY_NAME[d] for d in self.done)]
        self.program.value = ("<b>your program so far</b><pre style='margin-top:0'>"
                              + html.escape("\n".join(lines) or "(nothing yet)") + "</pre>")
        self.said.value = f"<b>{html.escape(step.name)}:</b> {html.escape(said)}" if step and said else html.escape(said)
        self.problem.value = warning(error) if error else ""
        queue = ""
        r = self.round
        if r is not None and r.server_port is not None and "listen" in self.done and "close" not in self.done:
            waiting = accept_queue(r.server_port)  # by port: None, not an error, once nothing listens there
            if waiting is not None:
                queue = f"\nwaiting in the accept queue: {waiting}"
        self.table.value = ("<b>the kernel's TCP states</b><pre style='margin-top:0'>"
                            + html.escape(str(table) + queue) + "</pre>")
        self._enable()
        self._ask_picture(table)
        return table

    # -- the picture ----------------------------------------------------------------------
    def _ask_picture(self, table: StateTable) -> None:
        """Show the diagram of `table`: at once if drawn before, else drawn on the stepper's drawing thread."""
        if self.draw is None:
            return  # no function to draw with: the table is the whole answer
        with self._draw_lock:
            self._generation += 1
            with _pictures_lock:
                png = _pictures.get(_key(table, self.draw))
            if png is not None:
                self._wanted = None
                self._put_picture(png)
                return
            self._wanted = table
            self._drawn.clear()
            self.caption.value = "<i>drawing the state diagram of these states ...</i>"
            if self._drawer is None and not self._closed:
                self._drawer = threading.Thread(target=self._draw_loop, name="sockcourse-stepper-drawing",
                                                daemon=True)
                self._drawer.start()

    def _draw_loop(self) -> None:
        """Draw what is wanted until nothing is; then end (no thread stays behind an idle stepper)."""
        while True:
            with self._draw_lock:
                table, generation, self._wanted = self._wanted, self._generation, None
                if table is None or self._closed:
                    self._drawer = None
                    self._drawn.set()
                    return
            try:
                png = draw_states(table, self.draw)
            except Exception as exc:  # noqa: BLE001 - a thread's error would vanish; the panel shows it
                self.problem.value = warning(course_bug("The state diagram could not be drawn", exc)
                                             + " The table above is the kernel's answer.")
                continue
            with self._draw_lock:
                if generation == self._generation and not self._closed:
                    self._put_picture(png)

    def _put_picture(self, png: bytes) -> None:
        self.picture.value = png
        self.caption.value = ""
        if self.picture not in self.picture_slot.children:
            self.picture_slot.children = (self.picture, self.caption)

    def wait_drawn(self, timeout: float = 10.0) -> bool:
        """Wait at most `timeout` seconds until the picture shows the latest states; True if it does."""
        return self._drawn.wait(timeout)

    def _enable(self) -> None:
        for step_name, button in self.buttons.items():
            reason = self.allowed(step_name)
            button.disabled = bool(reason)
            button.tooltip = reason or _BY_NAME[step_name].code.replace("\n", "; ")
        self.restart.disabled = self._closed

    # -- the end of a round, and of the stepper ------------------------------------------
    def start_over(self) -> Pressed:
        """Close every socket of this round and begin a new one (the "start over" button)."""
        started = time.perf_counter()
        with self._lock:
            if self._closed:
                why = self.allowed(STEPS[0].name)
                self.problem.value = warning(why)
                return Pressed("start over", False, "", None, time.perf_counter() - started, why)
            self._end_round()
            said = "Every socket is closed; a new round begins. Press a socket() button."
            table = self._show(None, said)
            return Pressed("start over", True, said, table, time.perf_counter() - started)

    def _end_round(self) -> None:
        r, self.round = self.round, None
        self.done = []
        if r is not None:
            r.stop()

    def _round_stopped(self, r: StepperRound) -> None:
        """Called when a round's sockets close; if something outside closed them, the panel says so."""
        # No lock here: stop_all() may run on another thread while a press holds it and waits for that stop.
        if r is not self.round or "close" in self.done:
            return  # start over, close() or the round's own close step, which say what happened themselves
        self.round = None
        self.done = []
        if self._closed:
            return
        self._enable()
        self.problem.value = warning("The stepper's sockets were closed from outside (sockcourse.stop_all(), or a "
                                     "new stepper made in its place); press a socket() button or start over to "
                                     "begin a new round.")

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self, *, wait: bool = True, _from_box: bool = False) -> None:
        """Close every socket and stop offering the buttons; safe twice.

        wait: also wait (at most DRAW_JOIN seconds) for a diagram still being
            drawn; without it the drawing thread ends by itself when its picture is done.
        """
        with self._lock:
            self._closed = True
            self._end_round()
            self._enable()
            self.said.value = "This stepper is closed; run its cell again for a new one."
        with self._draw_lock:
            drawer = self._drawer
        if drawer is not None and wait and drawer is not threading.current_thread():
            drawer.join(DRAW_JOIN)  # a drawing in progress ends within about a second; then the thread returns
        if not _from_box:
            self.box.close()


def _key(table: StateTable, draw) -> tuple:
    return (getattr(draw, "__module__", None), getattr(draw, "__qualname__", repr(draw)),
            tuple((row.role, row.state) for row in table))


def draw_states(table: StateTable, draw) -> bytes:
    """`draw(table, ax=..., title=..., notes=False)` (viz.state_diagram) as PNG bytes; the same states are drawn once."""
    key = _key(table, draw)
    with _pictures_lock:
        if key in _pictures:
            return _pictures[key]
    from matplotlib.figure import Figure  # not pyplot: the figure is never shown, so it needs no closing

    figure = Figure(figsize=(7.5, 6.6), layout="constrained")
    draw(table, ax=figure.subplots(), title="TCP states of the stepper's sockets", notes=False)
    png = io.BytesIO()
    figure.savefig(png, format="png", dpi=64)
    with _pictures_lock:
        if len(_pictures) >= PICTURES:
            _pictures.pop(next(iter(_pictures)))
        _pictures[key] = png.getvalue()
    return _pictures[key]


def fallback_text() -> str:
    """The box's text form: the steps as code to run by hand where widgets do not render."""
    lines = ["The lifecycle stepper (a widget: in JupyterLab it is a row of buttons per side).",
             "Without widgets, make the same calls yourself, one cell each, in this order, and look",
             "at kernel.states(listener, client) after each one:"]
    for step in STEPS:
        for number, code in enumerate(step.code.splitlines()):
            lines.append(f"    {code:<62}" + (f"# {step.side}: {step.name}" if number == 0 else "").rstrip())
    return "\n".join(line.rstrip() for line in lines)


def lifecycle_stepper(*, draw=None, name: str = "lifecycle stepper") -> StepperBox:
    """Chapter 01's lifecycle stepper, a box to display in a cell (its .stepper is the Stepper behind it).

    draw: the function that draws the state diagram of a kernel.states()
        table, viz.state_diagram; without it the panel shows the table alone.
    name: a new stepper of the same name closes the older one's sockets, so
        running the cell again leaves nothing behind.
    """
    return Stepper(name=name, draw=draw).box
