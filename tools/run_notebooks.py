"""Re-execute the course's notebooks in place, so they are committed with fresh outputs.

Each notebook runs top to bottom in a fresh kernel of this Python environment,
with the notebook's own folder as the working directory, exactly as nbval will
run it. A notebook is written back only if every cell ran without an error; the
first error stops the run with the notebook, the cell and the error named.

    python tools/run_notebooks.py                          # every notebooks/*.ipynb
    python tools/run_notebooks.py notebooks/01_tcp.ipynb   # just these
"""

from __future__ import annotations

import argparse
import os
import re
import stat
import sys
import tempfile
import time
from pathlib import Path

import ipykernel.kernelspec
import nbformat
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"

#: Seconds one cell may run; a chapter's cell that needs more is a bug to fix.
CELL_TIMEOUT = 60
#: Seconds the kernel may take to start on a slow, busy machine.
STARTUP_TIMEOUT = 60

#: What every committed notebook declares; nbval and the tests expect it.
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}

#: Cell metadata that front ends and runners fill with timestamps: it changes on
#: every run and would make each re-run a diff of every cell.
VOLATILE_CELL_METADATA = ("execution", "ExecuteTime")

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class RunFailed(Exception):
    """A notebook could not be run to the end; the message says where and why."""


class CurrentEnvSpecs(KernelSpecManager):
    """Kernel specs where "python3" always means this interpreter.

    A "python3" kernel spec in the user's Jupyter folders may point at another
    Python, which would run the notebooks without this environment's packages.
    """

    def get_kernel_spec(self, kernel_name):
        if kernel_name == "python3":
            return self.kernel_spec_class(resource_dir=ipykernel.kernelspec.RESOURCES,
                                          **ipykernel.kernelspec.get_kernel_dict())
        return super().get_kernel_spec(kernel_name)


class CurrentEnvKernelManager(AsyncKernelManager):
    """A kernel manager that starts the "python3" kernel of this environment."""

    def __init__(self, **kwargs):
        kwargs.setdefault("kernel_spec_manager", CurrentEnvSpecs())
        super().__init__(**kwargs)


def make_client(nb, directory: Path, **options) -> NotebookClient:
    """A NotebookClient for `nb` that runs in `directory` with this environment's kernel."""
    options.setdefault("timeout", CELL_TIMEOUT)
    return NotebookClient(
        nb,
        kernel_name="python3",
        kernel_manager_class=CurrentEnvKernelManager,
        startup_timeout=STARTUP_TIMEOUT,
        resources={"metadata": {"path": str(directory)}},
        record_timing=False,
        # The kernel's own start-up warnings (such as "running over TCP without
        # encryption" on loopback) are noise here; cell output is unaffected.
        extra_arguments=["--IPKernelApp.log_level=ERROR"],
        **options,
    )


def plain(text: str) -> str:
    """Text without the terminal colour codes that IPython puts in tracebacks."""
    return _ANSI.sub("", text)


def kernel_traceback(exc: CellExecutionError, lines: int = 40) -> str:
    """The end of the kernel's traceback, without nbclient's echo of the cell."""
    # nbclient puts the cell's source and its printed output first, each
    # closed by a line of dashes; the kernel's traceback comes after the last.
    text = plain(exc.traceback).rstrip().rsplit("\n------------------\n", 1)[-1].strip("\n")
    return "\n".join(text.splitlines()[-lines:])


def display_path(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(REPO))
    except ValueError:
        return str(path)


def run_one(path: Path) -> float:
    """Execute one notebook and write it back; return the seconds it took."""
    path = path.resolve()
    name = display_path(path)
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        for key in VOLATILE_CELL_METADATA:
            cell.metadata.pop(key, None)
        if cell.cell_type == "code":
            # A cell the run skips (an empty one) must not keep an old output.
            cell.outputs = []
            cell.execution_count = None
    nb.metadata["kernelspec"] = dict(KERNELSPEC)

    client = make_client(nb, path.parent)
    current = {"index": None}

    def note_cell(cell, cell_index):
        current["index"] = cell_index

    client.on_cell_start = note_cell
    started = time.monotonic()
    try:
        client.execute()
    except CellExecutionError as exc:
        raise RunFailed(
            f"{name}: cell {current['index']} raised {exc.ename}: {exc.evalue}\n"
            f"{kernel_traceback(exc)}\n"
            f"The notebook was not saved; fix cell {current['index']} (cells count from 0) and run again."
        ) from None
    except CellTimeoutError:
        raise RunFailed(
            f"{name}: cell {current['index']} did not finish within {CELL_TIMEOUT} s; "
            f"the notebook was not saved. Look for a wait without a timeout in that cell."
        ) from None
    except DeadKernelError:
        raise RunFailed(
            f"{name}: the kernel died while running cell {current['index']}; "
            f"the notebook was not saved. Run that cell in JupyterLab to see why."
        ) from None
    seconds = time.monotonic() - started

    for cell in nb.cells:
        for key in VOLATILE_CELL_METADATA:
            cell.metadata.pop(key, None)
    nbformat.validate(nb)
    _write_atomically(nb, path)
    return seconds


def _write_atomically(nb, path: Path) -> None:
    # A crash halfway through writing must not leave a truncated notebook behind.
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=".ipynb")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            nbformat.write(nb, out)
        # mkstemp makes the file private (0600); keep the notebook's own mode.
        os.chmod(temporary, stat.S_IMODE(path.stat().st_mode))
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def default_notebooks() -> list[Path]:
    return sorted(p for p in NOTEBOOKS.glob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)


def check_paths(names: list[str]) -> list[Path]:
    paths = []
    for name in names:
        path = Path(name)
        if path.suffix != ".ipynb":
            raise RunFailed(f"{name!r} is not a notebook: expected a path ending in .ipynb, "
                            f"such as notebooks/01_tcp.ipynb.")
        if not path.is_file():
            raise RunFailed(f"There is no notebook at {name!r}; check the spelling, or run "
                            f"without arguments to run every notebook in {display_path(NOTEBOOKS)}/.")
        paths.append(path)
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", help="notebooks to run (default: notebooks/*.ipynb)")
    args = parser.parse_args(argv)
    try:
        paths = check_paths(args.notebooks) if args.notebooks else default_notebooks()
        if not paths:
            raise RunFailed(f"There are no notebooks in {display_path(NOTEBOOKS)}/ to run; "
                            f"name one, such as notebooks/01_tcp.ipynb.")
        total = 0.0
        for path in paths:
            seconds = run_one(path)
            total += seconds
            print(f"{display_path(path)}: ran in {seconds:.1f} s", flush=True)
    except RunFailed as exc:
        print(f"run_notebooks: {exc}", file=sys.stderr)
        return 1
    if len(paths) > 1:
        print(f"{len(paths)} notebooks ran in {total:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
