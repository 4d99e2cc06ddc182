"""A notebook in JupyterLab, driven the way a learner drives it, and read back as plain data.

Everything here goes through the page: the menus (Run > Run All Cells), the
keyboard, the mouse. What the test asserts comes from the DOM JupyterLab
rendered, read with textContent (JupyterLab 4 skips painting off-screen
cells, so innerText would be empty there), and from the kernel's messages on
the page's websocket, which tell when the kernel has finished with a click.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

#: The notebook the learner looks at (JupyterLab hides the others with lm-mod-hidden).
PANEL = ".jp-NotebookPanel:not(.lm-mod-hidden)"

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
STDERR_MIME = "application/vnd.jupyter.stderr"

#: What an output shows when its widget is not drawn: still loading, or the front end failed.
_TROUBLE = r"Loading widget|Error displaying widget|model not found"
WIDGET_TROUBLE = re.compile(_TROUBLE, re.I)

#: What the DOM shows of each code cell and its outputs, in one round trip.
_READ = """
(panel) => {
  const TROUBLE = /%(trouble)s/i;
  const root = document.querySelector(panel);
  if (!root) return null;
  const text = (node, n) => (node ? node.textContent : "").slice(0, n);
  const cells = [...root.querySelectorAll(".jp-CodeCell")].map((cell) => {
    const outputs = [...cell.querySelectorAll(".jp-OutputArea-output")];
    const mime = (m) => outputs.filter((o) => o.getAttribute("data-mime-type") === m);
    return {
      prompt: text(cell.querySelector(".jp-InputPrompt"), 40).trim(),
      stderr: mime("%(stderr)s").map((o) => text(o, 3000)),
      plain: mime("text/plain").map((o) => text(o, 400)),
      // An image a widget draws (an ipywidgets Image) is no image output of the notebook file.
      images: [...cell.querySelectorAll(".jp-OutputArea-output img")].map(
        (img) => ({loaded: img.complete && img.naturalWidth > 0, width: img.naturalWidth,
                   in_widget: !!img.closest(".jupyter-widgets")})),
      // A drawn widget's output carries no mime type attribute, only the widget's own nodes.
      widgets: outputs.filter((o) => o.getAttribute("data-mime-type") === "%(widget)s"
                                     || o.querySelector(".jupyter-widgets")).map((o) => ({
        rendered: !!o.querySelector(".jupyter-widgets"),
        text: text(o, 400),
      })),
      trouble: outputs.map((o) => text(o, 400)).filter((t) => TROUBLE.test(t)),
    };
  });
  const indicator = root.querySelector(".jp-Notebook-ExecutionIndicator");
  return {cells, status: indicator ? indicator.getAttribute("data-status") : null};
}
""" % {"stderr": STDERR_MIME, "widget": WIDGET_MIME, "trouble": _TROUBLE}


class NotebookStuck(AssertionError):
    """The notebook did not finish in time; the message says which cells were still waiting."""


# -- the page as a whole --------------------------------------------------------------------------

@dataclass
class Watch:
    """What a page said on its own: console errors, page errors, requests, the kernel's messages."""

    console_errors: list = field(default_factory=list)
    requests: list = field(default_factory=list)
    sent: list = field(default_factory=list)       # (time, msg_type, msg_id) of kernel messages sent
    received: list = field(default_factory=list)   # (time, msg_type, execution_state, parent type, parent id)

    def attach(self, context, page) -> "Watch":
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.console_errors.append(("pageerror", str(error))))
        context.on("request", lambda request: self.requests.append((request.method, request.url)))
        page.on("websocket", self._websocket)
        return self

    def _console(self, message) -> None:
        if message.type == "error":
            self.console_errors.append(("console.error", message.text))

    def _websocket(self, ws) -> None:
        if "/api/kernels/" not in ws.url:
            return
        ws.on("framesent", lambda payload: self._frame(payload, self.sent, outgoing=True))
        ws.on("framereceived", lambda payload: self._frame(payload, self.received, outgoing=False))

    @staticmethod
    def _frame(payload, into: list, *, outgoing: bool) -> None:
        message = kernel_message(payload)
        if message is None:
            return
        header, parent, content = message
        if outgoing:
            into.append((time.monotonic(), header.get("msg_type"), header.get("msg_id")))
        else:
            into.append((time.monotonic(), header.get("msg_type"), content.get("execution_state"),
                         parent.get("msg_type"), parent.get("msg_id")))


def kernel_message(payload):
    """(header, parent_header, content) of one websocket frame of a kernel channel, or None.

    JupyterLab 4 speaks jupyter_server's binary "v1" protocol when offered: a count
    n of offsets (8 bytes, little-endian), the n offsets, then the parts they
    bound: channel, header, parent header, metadata, content, buffers. Older
    servers send one JSON text per message instead.
    """
    try:
        if isinstance(payload, str):
            whole = json.loads(payload)
            return whole.get("header", {}), whole.get("parent_header", {}), whole.get("content", {})
        count = int.from_bytes(payload[:8], "little")
        offsets = [int.from_bytes(payload[8 * (i + 1):8 * (i + 2)], "little") for i in range(count)]
        parts = [payload[offsets[i]:offsets[i + 1]] for i in range(count - 1)]
        if len(parts) < 5:
            return None
        return tuple(json.loads(parts[i] or b"{}") for i in (1, 2, 4))
    except (ValueError, UnicodeDecodeError):
        return None


def launch(playwright, executable: str, profile: str):
    """Chromium from the system, headless, talking to nobody but the pages it is sent to."""
    return playwright.chromium.launch_persistent_context(
        profile, executable_path=executable, headless=True, viewport={"width": 1400, "height": 1000},
        args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
              "--disable-background-networking", "--disable-component-update", "--disable-sync",
              "--disable-default-apps"])


def open_lab(page, url: str, *, timeout: float = 90) -> float:
    """Load JupyterLab at `url`; return the seconds until its file browser listed something."""
    start = time.monotonic()
    page.goto(url, timeout=timeout * 1000)
    page.wait_for_selector(".jp-DirListing-item", timeout=timeout * 1000)
    return time.monotonic() - start


def menu(page, top: str, entry: str) -> None:
    """Click a menu bar item, then the entry whose label starts with `entry` (Lumino menus)."""
    page.locator(".lm-MenuBar-item", has_text=re.compile(f"^{re.escape(top)}$")).click()
    label = page.locator(".lm-Menu-itemLabel", has_text=re.compile(f"^{re.escape(entry)}"))
    page.locator(".lm-Menu:visible .lm-Menu-item").filter(has=label).first.click()


def toasts(page) -> list[str]:
    return page.locator(".Toastify__toast").all_text_contents()


# -- one notebook ---------------------------------------------------------------------------------

def open_notebook(page, lab, path: str, *, timeout: float = 90) -> str:
    """File > Open from Path…, wait until its cells are there and its kernel is idle; return the kernel's id.

    The toolbar's indicator says "idle" even before a kernel exists, and a Run
    All sent then makes JupyterLab ask which kernel to start; so the server is
    asked too, until this notebook's session has a kernel, idle, with the page
    connected to it.
    """
    menu(page, "File", "Open from Path")
    dialog = page.locator(".jp-Dialog")
    dialog.locator("input").fill(path)
    dialog.locator("input").press("Enter")
    page.wait_for_selector(f"{PANEL} .jp-Cell", timeout=timeout * 1000)
    deadline = time.monotonic() + timeout
    while True:
        kernels = [s["kernel"] for s in lab.sessions() if s.get("path") == path and s.get("kernel")]
        ready = (kernels and kernels[0].get("execution_state") == "idle" and kernels[0].get("connections", 0) >= 1
                 and page.locator(f'{PANEL} .jp-Notebook-ExecutionIndicator[data-status="idle"]').count())
        if ready:
            return kernels[0]["id"]
        if time.monotonic() > deadline:
            raise NotebookStuck(f"{path}'s kernel was not ready {timeout:.0f} s after opening it: {kernels!r}")
        page.wait_for_timeout(200)


def render_all_cells(page, code_cells: int, *, timeout: float = 30) -> None:
    """Scroll through the notebook until JupyterLab has put every code cell into the page, then back to the top.

    JupyterLab 4 adds a long notebook's cells to the page as they come near
    the screen; a cell not yet there would hide its prompt and its outputs
    from every check below.
    """
    # One round trip: the page scrolls itself, a frame at a time, until the cells are there or time is up.
    have = page.evaluate("""async ([panel, want, ms]) => {
        const root = document.querySelector(panel);
        const el = root.querySelector(".jp-WindowedPanel-outer");
        const count = () => root.querySelectorAll(".jp-CodeCell").length;
        const start = performance.now();
        while (count() < want && performance.now() - start < ms) {
          el.scrollTop += el.clientHeight;
          await new Promise((done) => requestAnimationFrame(() => setTimeout(done, 0)));
        }
        el.scrollTop = 0;
        return count();
      }""", [PANEL, code_cells, timeout * 1000])
    if have < code_cells:
        raise NotebookStuck(f"JupyterLab had put {have} of {code_cells} code cells into the page after "
                            f"{timeout:.0f} s of scrolling.")


def read(page) -> dict:
    return page.evaluate(_READ, PANEL)


def _ran(prompt: str) -> bool:
    return re.match(r"^\[\d+\]", prompt) is not None


def run_all(page, code_cells: int, *, timeout: float) -> float:
    """Run > Run All Cells; wait until every code cell has a number and the kernel is idle; return seconds.

    Run All stops at the first cell that raises; that is seen as a kernel
    that stays idle with cells still unnumbered, and returned at once, so the
    caller reports the error instead of waiting for the timeout.
    """
    start = time.monotonic()
    menu(page, "Run", "Run All Cells")
    settled_since = None
    while True:
        state = read(page)
        prompts = [cell["prompt"] for cell in state["cells"]]
        busy = state["status"] != "idle" or any("*" in p for p in prompts)
        all_ran = len(prompts) == code_cells and all(_ran(p) for p in prompts)
        now = time.monotonic()
        if busy:
            settled_since = None
        elif settled_since is None:
            settled_since = now
        # Idle and numbered for 0.5 s: done. Idle for 5 s with cells never run: Run All stopped at an error.
        if settled_since is not None and (now - settled_since >= (0.5 if all_ran else 5.0)):
            return now - start
        if now - start > timeout:
            waiting = [i for i, p in enumerate(prompts) if not _ran(p)]
            raise NotebookStuck(f"Run All had not finished after {timeout:.0f} s: code cells {waiting} "
                                f"(counted from 0) had not run, the kernel was {state['status']!r}.")
        page.wait_for_timeout(250)


def wait_for_widgets(page, *, timeout: float = 30) -> dict:
    """Wait (bounded) until every widget output is drawn as a widget; return the last read."""
    deadline = time.monotonic() + timeout
    while True:
        state = read(page)
        views = [w for cell in state["cells"] for w in cell["widgets"]]
        if all(w["rendered"] for w in views) and not any(cell["trouble"] for cell in state["cells"]):
            return state
        if time.monotonic() > deadline:
            return state
        page.wait_for_timeout(250)


def screenshots(page, folder: Path, stem: str, *, height: int = 2000, limit: int = 40) -> list[Path]:
    """Screenshots of the whole notebook, top to bottom, scrolling JupyterLab's own panel.

    Playwright's full_page cannot do it: the page never scrolls, the notebook
    panel inside it does. The window is made `height` pixels tall meanwhile
    (fewer, taller pictures: each one costs about the same), and each picture
    is the notebook's area only.
    """
    folder.mkdir(parents=True, exist_ok=True)
    scroller = f"{PANEL} .jp-WindowedPanel-outer"
    size = page.viewport_size
    taken = []
    page.set_viewport_size({"width": size["width"], "height": height})
    try:
        page.evaluate("(s) => { document.querySelector(s).scrollTop = 0; }", scroller)
        for part in range(limit):
            page.wait_for_timeout(150)  # let JupyterLab paint what scrolled into view
            path = folder / f"{stem}-part{part:02d}.png"
            page.locator(scroller).screenshot(path=str(path))
            taken.append(path)
            moved = page.evaluate("""(s) => { const el = document.querySelector(s);
                const before = el.scrollTop; el.scrollTop = before + el.clientHeight - 60;
                return el.scrollTop > before; }""", scroller)
            if not moved:
                break
    finally:
        page.set_viewport_size(size)
    return taken


def close_and_shut_down(page, lab, kernel_id: str, *, timeout: float = 30) -> None:
    """File > Close and Shut Down Notebook, answer its dialogs (never saving), wait until its kernel is gone."""
    menu(page, "File", "Close and Shut Down Notebook")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        dialog = page.locator(".jp-Dialog")
        if dialog.count():
            buttons = dialog.locator(".jp-Dialog-button")
            names = [b.strip() for b in buttons.all_text_contents()]
            for wanted in ("Ok", "Shut Down", "Discard", "Don't Save"):
                if wanted in names:
                    buttons.nth(names.index(wanted)).click()
                    break
        running = [k["id"] for k in lab.kernels()]
        if kernel_id not in running and not page.locator(PANEL).count():
            return
        page.wait_for_timeout(250)
    raise AssertionError(f"The notebook's kernel {kernel_id} was still running {timeout:.0f} s after "
                         f"Close and Shut Down.")


# -- cells and widgets ----------------------------------------------------------------------------

def code_cell(page, index: int):
    """The locator of the code cell `index`, counted over code cells only, from 0."""
    return page.locator(f"{PANEL} .jp-CodeCell").nth(index)


def run_cell(page, index: int, *, timeout: float = 60) -> None:
    """Click code cell `index`'s prompt, press Ctrl+Enter, and wait until it has run and the kernel is idle."""
    cell = code_cell(page, index)
    cell.scroll_into_view_if_needed()
    before = cell.locator(".jp-InputPrompt").text_content()
    cell.locator(".jp-InputPrompt").click()
    page.keyboard.press("Control+Enter")
    deadline = time.monotonic() + timeout
    while True:
        prompt = cell.locator(".jp-InputPrompt").text_content().strip()
        idle = page.locator(f'{PANEL} .jp-Notebook-ExecutionIndicator[data-status="idle"]').count()
        if _ran(prompt) and prompt != before.strip() and idle:
            return
        if time.monotonic() > deadline:
            raise NotebookStuck(f"Code cell {index} had not run {timeout:.0f} s after Ctrl+Enter (prompt {prompt!r}).")
        page.wait_for_timeout(100)


def append_cell(page, source: str) -> int:
    """Add a code cell after the last one (the notebook is a private copy and is never saved); return its index."""
    last = page.locator(f"{PANEL} .jp-Cell").last
    last.scroll_into_view_if_needed()
    last.locator(".jp-InputPrompt").click()
    page.keyboard.press("Escape")
    page.keyboard.press("b")
    page.keyboard.press("Enter")
    page.keyboard.insert_text(source)
    page.keyboard.press("Escape")
    return page.locator(f"{PANEL} .jp-CodeCell").count() - 1


def cell_text(page, index: int) -> str:
    return code_cell(page, index).locator(".jp-OutputArea").text_content()


def kernel_answer(page, watch: Watch, since: float, *, timeout: float = 15, quiet: float = 1.0) -> float | None:
    """Seconds from `since` until the kernel went idle after handling every widget message sent since then.

    None if no widget message (comm_msg) left the page within `quiet` seconds:
    the control did not talk to the kernel.
    """
    deadline = since + timeout
    while True:
        sent = {msg_id for t, kind, msg_id in list(watch.sent) if t >= since and kind == "comm_msg"}
        done = {(parent_id, t) for t, kind, state, parent_kind, parent_id in list(watch.received)
                if t >= since and kind == "status" and state == "idle" and parent_kind == "comm_msg"}
        finished = {parent_id: t for parent_id, t in done if parent_id in sent}
        now = time.monotonic()
        if sent and set(finished) == sent:
            return max(finished.values()) - since
        if not sent and now - since > quiet:
            return None
        if now > deadline:
            raise AssertionError(f"A widget's kernel callback had not finished {timeout:.0f} s after the click.")
        page.wait_for_timeout(10)  # Playwright delivers the frames' events only inside its own calls
