"""Checks the set-up a newcomer relies on: the Makefile, Binder, conda, the README and CI's entry point."""

import os
import re
import secrets
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml", reason="PyYAML is needed to read the conda files; install the test extras: pip install -e '.[test]'")
tomllib = pytest.importorskip("tomllib", reason="tomllib arrived in Python 3.11; these checks run on CI's Python")
from packaging.requirements import Requirement  # noqa: E402  (after the skips above)

ROOT = Path(__file__).resolve().parents[1]
MAKE = shutil.which("make")
needs_make = pytest.mark.skipif(MAKE is None, reason="GNU make is not installed here; the set-up commands need it")

BADGE_URL = "https://mybinder.org/v2/gh/sockcourse/sockcourse/HEAD?urlpath=lab/tree/notebooks"
BADGE_IMAGE = "https://mybinder.org/badge_logo.svg"
# An upper bound may follow the lower one (pymodbus>=3.16,<4), in conda's syntax and pip's alike.
CONDA_SPEC = re.compile(r"^(?P<name>[A-Za-z0-9_.\-]+)\s*(?:>=\s*(?P<low>[0-9][^\s,]*))?(?:,<\s*(?P<high>[0-9][^\s,]*))?$")


def _norm(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def _pyproject():
    with open(ROOT / "pyproject.toml", "rb") as f:
        return tomllib.load(f)


def _runtime_bounds_from_pyproject():
    bounds = {}
    for line in _pyproject()["project"]["dependencies"]:
        req = Requirement(line)
        lows = [s.version for s in req.specifier if s.operator == ">="]
        assert len(lows) == 1, f"pyproject.toml dependency {line!r} should have exactly one lower bound (>=), so conda can mirror it."
        bounds[_norm(req.name)] = lows[0]
    return bounds


def _conda_file(relpath):
    return yaml.safe_load((ROOT / relpath).read_text())


def _conda_bounds(env, relpath):
    """Name -> lower bound for every plain conda dependency except python and pip."""
    bounds = {}
    for entry in env["dependencies"]:
        if not isinstance(entry, str):
            continue  # the pip: section, checked on its own
        if re.match(r"(python|pip)(?![A-Za-z0-9_.-])", entry.strip()):
            continue  # pinned on their own terms, checked below
        m = CONDA_SPEC.match(entry.strip())
        assert m, f"{relpath}: dependency {entry!r} should look like 'name>=X.Y'."
        bounds[_norm(m["name"])] = m["low"]
    return bounds


def _string_deps(env):
    return [e.strip() for e in env["dependencies"] if isinstance(e, str)]


def _clean_env(**extra):
    # A `make test` above us exports its own flags and jobserver; a child make
    # must start from the same blank slate a newcomer's shell has.
    env = {k: v for k, v in os.environ.items()
           if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "PYTHON", "LAB_ARGS", "PYTEST_ARGS")}
    env.update(extra)
    return env


def _make(*args, cwd=ROOT, timeout=60):
    return subprocess.run([MAKE, *args], cwd=cwd, env=_clean_env(), capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def _copy_of_makefile(tmp_path):
    """A bare project (Makefile and pyproject.toml only) where make may build or fail freely."""
    for name in ("Makefile", "pyproject.toml"):
        shutil.copy2(ROOT / name, tmp_path / name)
    return tmp_path


# --- the three dependency lists -------------------------------------------------------------

def test_runtime_dependencies_agree_in_pyproject_binder_and_conda():
    expected = _runtime_bounds_from_pyproject()
    assert expected, "pyproject.toml lists no runtime dependencies."
    for relpath in ("binder/environment.yml", "environment.yml"):
        assert _conda_bounds(_conda_file(relpath), relpath) == expected, (
            f"{relpath} should list exactly pyproject's [project] dependencies with the same lower bounds.")


def test_binder_pins_the_python_ci_runs_in_the_form_binder_reads():
    env = _conda_file("binder/environment.yml")
    pins = [d for d in _string_deps(env) if d.startswith("python")]
    want = f"python={sys.version_info.major}.{sys.version_info.minor}"
    assert pins == [want], f"binder/environment.yml pins {pins}, expected exactly [{want!r}]; Binder reads only that form."
    assert env["channels"] == ["conda-forge"]
    assert "pip" in _string_deps(env)


def test_conda_environment_follows_requires_python_and_installs_the_course():
    env = _conda_file("environment.yml")
    low = re.fullmatch(r">=\s*(\d+\.\d+)", _pyproject()["project"]["requires-python"])[1]
    assert [d for d in _string_deps(env) if d.startswith("python")] == [f"python>={low}"]
    assert env["channels"] == ["conda-forge"]
    pip_sections = [e["pip"] for e in env["dependencies"] if isinstance(e, dict)]
    assert pip_sections == [["-e .[test]"]], "environment.yml should install the course itself, with its test extras, through pip."


def test_postbuild_installs_the_course_package_and_its_jupyterlab_settings():
    post = ROOT / "binder" / "postBuild"
    assert os.access(post, os.X_OK), "binder/postBuild must be executable."
    text = post.read_text()
    assert text.startswith("#!/usr/bin/env bash\n")
    assert "set -euo pipefail" in text
    commands = [ln.strip() for ln in text.splitlines()[1:] if ln.strip() and not ln.lstrip().startswith("#")]
    assert commands == ["set -euo pipefail", "python -m pip install --no-deps .",
                        "settings=\"$(python -c 'import sys; print(sys.prefix)')/share/jupyter/lab/settings\"",
                        'mkdir -p "$settings"',
                        'cp jupyterlab-settings/overrides.json "$settings/overrides.json"']
    subprocess.run(["bash", "-n", str(post)], check=True, timeout=10)


# --- what Binder would build ----------------------------------------------------------------

def _git_visible_files():
    # Tracked files plus new ones not yet committed, minus everything ignored
    # (.venv, caches): in CI's fresh clone this is exactly the tracked set, and
    # on a developer's machine it still sees binder/ edits before they commit.
    out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                         cwd=ROOT, capture_output=True, timeout=30, check=True).stdout
    return sorted({p for p in out.decode().split("\0") if p})


def _unescape(name):
    # repo2docker names build-script files with escapism ('-' then two hex
    # digits) and appends '-' and six hex digits of a hash, dropped here.
    name = re.sub(r"-[0-9a-f]{6}$", "", name)
    return re.sub(r"-([0-9a-f]{2})", lambda m: chr(int(m[1], 16)), name)


def test_repo2docker_builds_from_binder_environment_with_ci_python_and_postbuild(tmp_path):
    r2d = Path(sys.executable).parent / "repo2docker"
    if not r2d.exists():
        pytest.skip(f"repo2docker is not installed next to {sys.executable}; install the test extras: pip install -e '.[test]'")
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("this check copies the files git would commit, and needs git and a git checkout")
    repo = tmp_path / "repo"
    for rel in _git_visible_files():
        src = ROOT / rel
        if src.is_file():  # a tracked file deleted in the work tree is simply absent
            (repo / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, repo / rel)
    proc = subprocess.run([str(r2d), "--no-build", "--debug", "--user-id", "1000", "--user-name", "learner", str(repo)],
                          capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, f"repo2docker failed:\n{proc.stderr[-3000:]}"
    dockerfile = proc.stdout
    decoded = " ".join(_unescape(m) for m in re.findall(r"build_script_files/(\S+)", dockerfile))
    major_minor = f"{sys.version_info.major}.{sys.version_info.minor}"
    assert "src/binder/environment.yml" in dockerfile
    assert '--file "binder/environment.yml"' in dockerfile
    assert f"environment.py-{major_minor}-linux-64.lock" in decoded, f"the Dockerfile does not build Python {major_minor}:\n{decoded}"
    assert f"python={major_minor}" in proc.stderr
    assert "RUN ./binder/postBuild" in dockerfile
    # Chapter 06 runs compilers and strace: the image must install what binder/apt.txt lists, and
    # apt.txt must list a JDK, rustc, Node.js and strace (gcc comes with repo2docker's base image).
    wanted = _apt_packages()
    assert {"default-jdk-headless", "rustc", "nodejs", "strace"} <= set(wanted), \
        f"binder/apt.txt lists {wanted}; chapter 06 needs a JDK, rustc, nodejs and strace there."
    assert {"iperf3", "sockperf"} <= set(wanted), \
        f"binder/apt.txt lists {wanted}; the benchmark's yardsticks iperf3 and sockperf belong there too."
    installs = [line for line in dockerfile.splitlines() if "apt-get install" in line]
    assert any(all(re.search(rf"(?<![\w.+-]){re.escape(p)}(?![\w.+-])", line) for p in wanted) for line in installs), \
        f"no apt-get install line of the Dockerfile installs {wanted}:\n" + "\n".join(installs)


def _apt_packages():
    path = ROOT / "binder" / "apt.txt"
    assert path.exists(), "binder/apt.txt is missing; chapter 06 needs Java, Rust, Node.js and strace on Binder."
    return [line.partition("#")[0].strip() for line in path.read_text().splitlines() if line.partition("#")[0].strip()]


# --- CI and the README ----------------------------------------------------------------------

def test_ci_run_is_make_test_and_nothing_else():
    run = ROOT / ".ci" / "run"
    assert os.access(run, os.X_OK), ".ci/run must be executable."
    lines = [ln.strip() for ln in run.read_text().splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    assert lines[0] == "set -euo pipefail"
    assert re.fullmatch(r'cd "?\$\(dirname "\$\{BASH_SOURCE\[0\]\}"\)/\.\."?', lines[1]), lines[1]
    assert lines[2:] == ["make test"]
    assert run.read_text().startswith("#!/usr/bin/env bash\n")
    subprocess.run(["bash", "-n", str(run)], check=True, timeout=10)


def test_readme_has_the_two_commands_the_badge_and_every_notebook():
    text = (ROOT / "README.md").read_text()
    for needle in ("make lab", "make test", "make notebooks", BADGE_URL, BADGE_IMAGE):
        assert needle in text, f"README.md should mention {needle!r}."
    for nb in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        assert f"notebooks/{nb.name}" in text, f"README.md does not mention notebooks/{nb.name}, which exists."


def test_readme_cell_example_really_echoes():
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    example = next((b for b in blocks if "sockcourse.serve(" in b), None)
    assert example is not None, "README.md should show a cell that calls sockcourse.serve(...)."
    proc = subprocess.run([sys.executable, "-c", example], capture_output=True, text=True, timeout=30,
                          cwd=ROOT, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "b'hello'"


def test_readme_command_line_server_behaves_as_described():
    if not (ROOT / "sockcourse" / "__main__.py").exists():
        pytest.skip("sockcourse has no command line yet (sockcourse/__main__.py is missing)")
    text = (ROOT / "README.md").read_text()
    assert "python -m sockcourse serve echo [--udp] [--unix PATH] [--port N] [--host H]" in text
    proc = subprocess.Popen([sys.executable, "-m", "sockcourse", "serve", "echo"], cwd=ROOT, text=True,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        with selectors.DefaultSelector() as sel:
            sel.register(proc.stdout, selectors.EVENT_READ)
            assert sel.select(timeout=20), "the server printed nothing within 20 s"
        first = proc.stdout.readline()
        m = re.fullmatch(r"listening on 127\.0\.0\.1:(\d+)\n", first)
        assert m, f"README.md promises 'listening on HOST:PORT' first; the server printed {first!r}"
        with socket.create_connection(("127.0.0.1", int(m[1])), timeout=5) as s:
            s.sendall(b"hello\n")
            assert s.recv(1024) == b"hello\n"
        proc.send_signal(signal.SIGINT)  # what Ctrl-C sends
        assert proc.wait(timeout=10) == 0, proc.stderr.read()[-2000:]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        proc.stdout.close()
        proc.stderr.close()


# --- the Makefile ---------------------------------------------------------------------------

@needs_make
def test_make_dry_run_shows_the_commands_newcomers_rely_on(tmp_path):
    bare = _copy_of_makefile(tmp_path)  # no .venv here, so make shows the whole set-up
    test = _make("-n", "test", "PYTEST_ARGS=-x -q", cwd=bare)
    assert test.returncode == 0, test.stderr
    lines = test.stdout.splitlines()
    assert lines[-1].strip() == ".venv/bin/python -m pytest -x -q"
    assert "python3 -m venv .venv" in test.stdout
    assert ".venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip" in lines
    assert ".venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[test]'" in lines

    lab = _make("-n", "lab", "LAB_ARGS=--no-browser", cwd=bare)
    assert lab.returncode == 0, lab.stderr
    root_flag = " --allow-root" if os.geteuid() == 0 else ""
    assert lab.stdout.splitlines()[-1].strip() == (
        f'PATH="{bare}/.venv/bin:$PATH" .venv/bin/jupyter lab --notebook-dir=notebooks --ServerApp.ip=127.0.0.1'
        f'{root_flag} --no-browser')  # the venv first on PATH: JupyterLab's terminal finds the course's python
    assert ".venv/bin/python -m pip install --quiet --disable-pip-version-check -e ." in lab.stdout.splitlines()

    # Every install goes through the venv's own pip, never a system one.
    for out in (test.stdout, lab.stdout):
        for line in out.splitlines():
            if re.search(r"\bpip\b.*\binstall\b", line):
                assert line.startswith(".venv/bin/python -m pip install "), line

    here = _make("-n", "test", "lab", "notebooks", "clean")
    assert here.returncode == 0, here.stderr
    assert ".venv/bin/python tools/run_notebooks.py" in here.stdout
    assert "rm -rf .venv" in here.stdout


@needs_make
def test_make_help_lists_every_target():
    out = _make("help")
    assert out.returncode == 0, out.stderr
    for target in ("lab", "test", "notebooks", "clean", "help"):
        assert f"make {target}" in out.stdout


@needs_make
def test_make_reinstalls_only_when_pyproject_changes(tmp_path):
    bare = _copy_of_makefile(tmp_path)
    (bare / ".venv" / "bin").mkdir(parents=True)
    (bare / ".venv" / "bin" / "python").touch()
    now = time.time()
    os.utime(bare / "pyproject.toml", (now - 100, now - 100))
    for stamp in (".sockcourse-lab-installed", ".sockcourse-test-installed"):
        (bare / ".venv" / stamp).touch()
        os.utime(bare / ".venv" / stamp, (now, now))
    for goal in ("test", "lab"):
        out = _make("-n", goal, cwd=bare)
        assert out.returncode == 0 and "pip install" not in out.stdout, f"make {goal} re-installs needlessly:\n{out.stdout}"
    os.utime(bare / "pyproject.toml", (now + 100, now + 100))
    for goal in ("test", "lab"):
        out = _make("-n", goal, cwd=bare)
        assert out.returncode == 0 and "pip install" in out.stdout, f"make {goal} ignores a changed pyproject.toml:\n{out.stdout}"
        assert "-m venv" not in out.stdout


def _fake_python(path, version, venv_works):
    # Stands in for an interpreter: reports `version` and either builds a
    # usable-looking venv or fails the way Debian's does without python3-venv.
    venv = "mkdir -p .venv/bin; exit 1" if not venv_works else "exit 0"
    path.write_text(f'#!/bin/sh\nif [ "$1" = "-c" ]; then echo {version}; exit 0; fi\n{venv}\n')
    path.chmod(0o755)
    return path


@needs_make
def test_make_refuses_an_old_python_with_a_clear_sentence(tmp_path):
    bare = _copy_of_makefile(tmp_path)
    fake = _fake_python(tmp_path / "oldpython", "3.9", venv_works=True)
    out = _make("lab", f"PYTHON={fake}", cwd=bare)
    assert out.returncode != 0
    assert f"'{fake}' is Python 3.9, but the course needs Python 3.10 or newer." in out.stderr
    assert "PYTHON=" in out.stderr  # the hint
    assert not (bare / ".venv").exists()


@needs_make
def test_make_names_the_package_when_venv_is_missing(tmp_path):
    bare = _copy_of_makefile(tmp_path)
    fake = _fake_python(tmp_path / "debianpython", "3.11", venv_works=False)
    out = _make("test", f"PYTHON={fake}", cwd=bare)
    assert out.returncode != 0
    assert "could not create .venv" in out.stderr and "python3-venv" in out.stderr, out.stderr
    assert not (bare / ".venv").exists(), "a half-made .venv would make the next run skip the set-up."
    missing = _make("test", "PYTHON=no-such-python-here", cwd=bare)
    assert missing.returncode != 0 and "No Python was found under the name 'no-such-python-here'" in missing.stderr


def _free_loopback_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@needs_make
@pytest.mark.skipif(not (ROOT / ".venv" / "bin" / "python").exists(),
                    reason="no .venv in the repository yet; `make lab` or `make test` creates it")
@pytest.mark.timeout(180)
def test_make_lab_really_starts_jupyterlab(tmp_path):
    port, token = _free_loopback_port(), secrets.token_hex(16)
    args = f"--no-browser --port={port} --ServerApp.port_retries=0 --ServerApp.token={token}"
    log = open(tmp_path / "lab.log", "w+")
    # Own session, so the kill below takes make and Jupyter's children with it.
    proc = subprocess.Popen([MAKE, "lab", f"LAB_ARGS={args}"], cwd=ROOT, stdin=subprocess.DEVNULL,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                            env=_clean_env(JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime")))
    status, deadline = None, time.monotonic() + 90
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status?token={token}", timeout=2) as r:
                    status = r.status
                    break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.5)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        log.seek(0)
        output = log.read()
        log.close()
    assert status == 200, f"JupyterLab did not answer on 127.0.0.1:{port} within 90 s; make lab said:\n{output[-3000:]}"
