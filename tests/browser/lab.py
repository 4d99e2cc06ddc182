"""A JupyterLab server of the course's own environment, for one test session, on loopback only.

`Lab(root)` starts `python -m jupyterlab` with the interpreter that runs the
tests (so the venv's JupyterLab, its settings override and its kernel), on
127.0.0.1, on a port the OS picks (`--ServerApp.port=0`; jupyter_server reads
the port back and prints it in its URL), with a random token. Every folder
JupyterLab or IPython would write to (runtime files, user settings,
workspaces, kernelspecs) is a fresh one in a private temp dir, so each run is
a learner's first start and nothing of this machine's own Jupyter set-up leaks
in. `stop()` asks the server to shut down (which ends its kernels) and then
ends its process group, each step with a timeout.

`find_browser()` says which Chromium the test drives, or why there is none.
"""

from __future__ import annotations

import json
import os
import platform
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

#: Seconds JupyterLab may take to print its URL (about 5 s here; a loaded CI machine is slower).
STARTUP = 120.0

#: Where Debian puts its chromium package; Playwright is pointed at it, never at a download.
DEBIAN_CHROMIUM = "/usr/bin/chromium"

# Chrome for macOS lives in an app bundle, not on PATH.
_MACOS_CHROME = "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome"

INSTALL_HINT = ("install Debian's chromium package (apt-get install chromium, which `make test` runs itself as root "
                "on Debian), or Google Chrome on Ubuntu (whose chromium snap Playwright cannot drive) and on macOS, "
                "or name one with SOCKCOURSE_CHROMIUM=/path/to/chromium")


def find_browser() -> tuple[str | None, str]:
    """(path, "") of the Chromium to drive, or (None, the sentence that says what to install)."""
    named = os.environ.get("SOCKCOURSE_CHROMIUM")
    if named:
        if os.access(named, os.X_OK):
            return named, ""
        return None, f"SOCKCOURSE_CHROMIUM names {named!r}, which is not an executable file; point it at a Chromium or Chrome."
    candidates = [shutil.which(name) for name in ("chromium", "google-chrome", "google-chrome-stable", "chromium-browser")]
    if platform.system() == "Darwin":
        candidates.append(_MACOS_CHROME)
    for path in candidates:
        if path and os.access(path, os.X_OK) and not os.path.realpath(path).startswith("/snap/"):
            return path, ""
    return None, f"No Chromium or Chrome was found, so the browser tests are skipped: {INSTALL_HINT}."


def _running_as_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


class LabFailed(RuntimeError):
    """JupyterLab did not start, or did not answer; the message holds the end of its log."""


class Lab:
    """One JupyterLab server serving `root`, started by start() and ended by stop() (safe twice)."""

    def __init__(self, root: Path, *, python: str = sys.executable):
        self.root = Path(root)
        self.python = python
        self.token = secrets.token_hex(24)
        self.port: int | None = None
        self.process: subprocess.Popen | None = None
        self._home = Path(tempfile.mkdtemp(prefix="sockcourse-lab-"))
        self.log_path = self._home / "jupyterlab.log"

    # -- start and stop ------------------------------------------------------------------------

    def start(self) -> "Lab":
        env = dict(os.environ)
        for name in ("runtime", "config", "data", "settings", "workspaces", "ipython"):
            (self._home / name).mkdir()
        env.update(
            JUPYTER_RUNTIME_DIR=str(self._home / "runtime"),
            JUPYTER_CONFIG_DIR=str(self._home / "config"),
            # The data dir holds user kernelspecs: a python3 spec of the user's own could
            # otherwise replace the venv's kernel.
            JUPYTER_DATA_DIR=str(self._home / "data"),
            # A fresh user settings dir is a first start: no answer to the news question is stored.
            JUPYTERLAB_SETTINGS_DIR=str(self._home / "settings"),
            JUPYTERLAB_WORKSPACES_DIR=str(self._home / "workspaces"),
            IPYTHONDIR=str(self._home / "ipython"),
        )
        command = [self.python, "-m", "jupyterlab", "--no-browser",
                   "--ServerApp.ip=127.0.0.1", "--ServerApp.port=0", "--ServerApp.port_retries=0",
                   f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={self.root}"]
        if _running_as_root():
            command.append("--allow-root")  # as `make lab` does; containers and CI run as root
        with open(self.log_path, "wb") as log:
            # A session of its own: stop() can end the server and every kernel it started, by group.
            self.process = subprocess.Popen(command, env=env, cwd=self.root, stdin=subprocess.DEVNULL,
                                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            self.port = self._wait_for_port()
            self._wait_until_answering()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_for_port(self) -> int:
        deadline = time.monotonic() + STARTUP
        while time.monotonic() < deadline:
            found = re.search(r"http://127\.0\.0\.1:(\d+)/", self.log())
            if found:
                port = int(found[1])
                if port == 0:
                    raise LabFailed("This jupyter_server printed port 0: it is too old to pick a free port by itself; "
                                    "upgrade it (pip install -U jupyter_server, 2.x).\n" + self.log_tail())
                return port
            if self.process.poll() is not None:
                raise LabFailed(f"JupyterLab ended with exit code {self.process.returncode} before it listened.\n"
                                + self.log_tail())
            time.sleep(0.1)
        raise LabFailed(f"JupyterLab printed no URL within {STARTUP:.0f} s.\n" + self.log_tail())

    def _wait_until_answering(self) -> None:
        deadline = time.monotonic() + 30
        while True:
            try:
                self.api("GET", "api/status")
                return
            except (OSError, LabFailed):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def stop(self) -> None:
        """Shut the server down (its kernels with it), then end what is left of it; each wait bounded."""
        process, self.process = self.process, None
        if process is None:
            return
        # Kernels run in sessions of their own (jupyter_client starts them so), so a signal to the
        # server's group misses them: note every descendant now, to end by pid any that outlives it.
        descendants = _descendants(process.pid)
        try:
            if process.poll() is None and self.port:
                try:
                    self.api("POST", "api/shutdown", timeout=10)
                except (OSError, LabFailed):
                    pass  # it may be gone already; the signals below make sure
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    pass
        finally:
            for sig in (signal.SIGTERM, signal.SIGKILL):
                if process.poll() is not None:
                    break
                try:
                    os.killpg(process.pid, sig)  # the group started for this server only
                except ProcessLookupError:
                    break  # it ended between the poll and the signal
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    pass
            _end(descendants)
            shutil.rmtree(self._home / "runtime", ignore_errors=True)

    def close(self) -> None:
        """stop(), then remove the private folders (the log goes with them: copy it first if needed)."""
        self.stop()
        shutil.rmtree(self._home, ignore_errors=True)

    def __enter__(self) -> "Lab":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    # -- talking to it -------------------------------------------------------------------------

    def url(self, path: str) -> str:
        """The address of `path` on this server, with the token (the first page sets a cookie from it)."""
        return f"http://127.0.0.1:{self.port}/{path.lstrip('/')}?token={self.token}"

    def api(self, method: str, path: str, body=None, *, timeout: float = 10):
        """Call the server's REST API (loopback only) and return its JSON answer, or None for an empty one."""
        data = None if body is None else json.dumps(body).encode()
        # jupyter_server 2.21 answers a listing with HTTP 500 while a kernel is half started (its
        # last_activity not yet set); a GET is asked again a few times, a change never.
        tries = 5 if method == "GET" else 1
        for attempt in range(tries):
            request = urllib.request.Request(f"http://127.0.0.1:{self.port}/{path.lstrip('/')}", data=data,
                                             method=method, headers={"Authorization": f"token {self.token}"})
            try:
                with urllib.request.urlopen(request, timeout=timeout) as answer:
                    raw = answer.read()
                return json.loads(raw) if raw.strip() else None
            except urllib.error.HTTPError as exc:
                if exc.code != 500 or attempt == tries - 1:
                    raise LabFailed(f"JupyterLab answered {method} /{path} with HTTP {exc.code}.") from exc
                time.sleep(0.3)

    def kernels(self) -> list:
        return self.api("GET", "api/kernels")

    def sessions(self) -> list:
        return self.api("GET", "api/sessions")

    def shut_down_kernels(self) -> list:
        """Shut down every kernel still running (one a failed test left behind); return their ids."""
        ids = [kernel["id"] for kernel in self.kernels()]
        for kernel_id in ids:
            try:
                self.api("DELETE", f"api/kernels/{kernel_id}", timeout=30)
            except LabFailed:
                pass  # it ended meanwhile
        return ids

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def descendants(self) -> list:
        """The server's live descendant processes (its kernels and what they started)."""
        return _descendants(self.process.pid) if self.process else []

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log().splitlines()[-lines:])


def _descendants(pid: int) -> list:
    import psutil  # a course dependency; imported here so that collecting the test stays light

    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def _end(processes: list) -> None:
    """Terminate, then kill, each process still running; psutil checks it is the same process (pid and start time)."""
    import psutil

    alive = [p for p in processes if p.is_running()]
    for p in alive:
        try:
            p.terminate()
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(alive, timeout=5)
    for p in alive:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(alive, timeout=5)
