"""The package's layers, checked: every import points down, and no two modules import each other.

The rules are the ones written in `sockcourse/__init__.py`. Every import is
read from the source with `ast`, wherever it stands: at the top of a module,
inside a function (a lazy import) or under `if TYPE_CHECKING:`, because each
of them is an arrow a reader has to follow. The checker is tried first on
small made-up packages that break each rule, so a rule that could never
fail would show here.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "sockcourse"

#: Each part of the package and its layer; an import may point to the same part or a lower layer.
LAYERS = {
    "core": 0,
    "protocols": 1,
    "servers": 2, "link": 2, "kernel": 2, "peers": 2,
    "tls": 3, "bench": 3,
    "homework": 4,
    "viz": 5, "widgets": 5, "cli": 5,
}

#: Parts of one layer that may use each other, importer first (measurements use TLS; never the reverse).
SIDEWAYS = {("bench", "tls")}

#: What may never be imported where: protocols are sans-I/O, and pictures open no socket.
FORBIDDEN = {
    "protocols": {"socket", "ssl", "threading", "subprocess", "selectors", "asyncio"},
    "viz": {"socket", "ssl", "subprocess", "selectors", "asyncio"},
}

#: The parts below which viz may reach: it draws plain data and knows the protocols' tables.
VIZ_MAY_USE = {"core", "protocols"}


@dataclass(frozen=True)
class Arrow:
    source: str  # the importing module, dotted
    target: str  # the imported module, dotted
    line: int
    where: str   # "top", "function" or "TYPE_CHECKING"


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules(root: Path) -> dict[str, Path]:
    return {module_name(root, path): path for path in sorted(root.rglob("*.py"))}


def _places(tree: ast.AST):
    """Each import node with where it stands: top level, in a function, or under TYPE_CHECKING."""
    def walk(node, where):
        for child in ast.iter_child_nodes(node):
            here = where
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                here = "function"
            elif isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                here = "TYPE_CHECKING"
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                yield child, here
            yield from walk(child, here)
    yield from walk(tree, "top")


def arrows(root: Path) -> tuple[list[Arrow], dict[str, set[str]]]:
    """Every import between the package's modules, and every outside module each one imports."""
    known = modules(root)
    top = root.name
    found, outside = [], {}
    for name, path in known.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        outside[name] = set()
        for node, where in _places(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    origin = ".".join(base + ([node.module] if node.module else []))
                else:
                    origin = node.module or ""
                # `from pkg import sub` imports the module pkg.sub when there is one.
                subs = [f"{origin}.{alias.name}" for alias in node.names if f"{origin}.{alias.name}" in known]
                targets = subs if len(subs) == len(node.names) else [origin, *subs]
            for target in targets:
                if target == top or target.startswith(top + "."):
                    found.append(Arrow(name, target, node.lineno, where))
                else:
                    outside[name].add(target.partition(".")[0])
    return found, outside


def part_of(module: str) -> str | None:
    """'servers' for sockcourse.servers.threaded; None for the package's face (its __init__, __main__)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] != "__main__" else None


def problems(root: Path) -> list[str]:
    """Every broken layer rule in the package at `root`, one sentence each."""
    found, outside = arrows(root)
    known = modules(root)
    said = []
    for arrow in found:
        source, target = part_of(arrow.source), part_of(arrow.target)
        at = f"{arrow.source} line {arrow.line} ({arrow.where})"
        if arrow.target not in known:
            said.append(f"{at} imports {arrow.target}, which is no module of the package (an old spelling?)")
            continue
        if target is None and source is not None:
            said.append(f"{at} imports the package's face {arrow.target}; import the module that holds the name")
            continue
        if source is None or target is None or source == target:
            continue
        if source not in LAYERS or target not in LAYERS:
            said.append(f"{at}: {source if source not in LAYERS else target} is in no layer; add it to LAYERS")
            continue
        if LAYERS[target] > LAYERS[source]:
            said.append(f"{at} points up: {source} [{LAYERS[source]}] imports {arrow.target} [{LAYERS[target]}]")
        elif LAYERS[target] == LAYERS[source] and (source, target) not in SIDEWAYS:
            said.append(f"{at} points sideways: {source} imports {arrow.target}, a part of the same layer")
        elif source == "viz" and target not in VIZ_MAY_USE:
            said.append(f"{at}: viz imports {arrow.target}; pictures take plain data and open no socket")
    stdlib = set(sys.stdlib_module_names) | {"__future__"}
    for module, names in outside.items():
        part = part_of(module)
        for name in sorted(names):
            if part == "core" and name not in stdlib:
                said.append(f"{module} imports {name}; core uses the standard library only")
            if name in FORBIDDEN.get(part, ()):
                said.append(f"{module} imports {name}, which {part} must not use")
    said += [f"import cycle among {', '.join(group)}: they import each other, so move what they share "
             f"into a module they both import" for group in cycles(found)]
    return said


def cycles(found: list[Arrow]) -> list[list[str]]:
    """The groups of modules that import each other, directly or round a loop (Tarjan's algorithm)."""
    graph: dict[str, set[str]] = {}
    for arrow in found:
        if arrow.source != arrow.target:
            graph.setdefault(arrow.source, set()).add(arrow.target)
            graph.setdefault(arrow.target, set())
    index, low, stack, on_stack, groups = {}, {}, [], set(), []
    counter = [0]

    def visit(node):
        # Iterative, so a deep package cannot overflow Python's stack.
        work = [(node, iter(sorted(graph[node])))]
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        while work:
            current, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter[0]
                    counter[0] += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                    break
                if child in on_stack:
                    low[current] = min(low[current], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[current])
                if low[current] == index[current]:
                    group = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.append(member)
                        if member == current:
                            break
                    if len(group) > 1:
                        groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


# -- the checker, tried on packages that break each rule ------------------------------
def make_package(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "sockcourse"
    for name, text in {"__init__.py": "", **files}.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


@pytest.mark.parametrize("files, expected", [
    ({"core/__init__.py": "", "core/a.py": "from ..servers import b\n",
      "servers/__init__.py": "", "servers/b.py": ""}, "points up"),
    ({"core/__init__.py": "", "core/a.py": "def f():\n    from ..servers.b import x\n",
      "servers/__init__.py": "", "servers/b.py": "x = 1\n"}, "points up"),
    ({"core/__init__.py": "", "core/a.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
      "    from ..tls import c\n", "tls/__init__.py": "", "tls/c.py": ""}, "points up"),
    ({"link/__init__.py": "", "link/a.py": "from ..servers import b\n",
      "servers/__init__.py": "", "servers/b.py": ""}, "points sideways"),
    ({"link/__init__.py": "", "link/a.py": "from . import b\n",
      "link/b.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .a import x\n"},
     "import cycle among sockcourse.link.a, sockcourse.link.b"),
    ({"protocols/__init__.py": "", "protocols/p.py": "import socket\n"}, "protocols must not use"),
    ({"core/__init__.py": "", "core/a.py": "import psutil\n"}, "standard library only"),
    ({"viz/__init__.py": "", "viz/a.py": "from ..link import b\n", "link/__init__.py": "", "link/b.py": ""},
     "open no socket"),
    ({"servers/__init__.py": "", "servers/a.py": "from .. import registry\n"}, "package's face"),
    ({"servers/__init__.py": "", "servers/a.py": "from ..aio import x\n"}, "no module of the package"),
    ({"extras/__init__.py": "", "extras/a.py": "from ..core import b\n", "core/__init__.py": "",
      "core/b.py": ""}, "in no layer"),
])
def test_the_checker_finds_each_kind_of_broken_rule(tmp_path, files, expected):
    said = problems(make_package(tmp_path, files))
    assert any(expected in sentence for sentence in said), said


def test_the_checker_accepts_a_package_that_keeps_the_rules(tmp_path):
    root = make_package(tmp_path, {
        "core/__init__.py": "", "core/a.py": "import socket\n",
        "servers/__init__.py": "from .b import serve\n", "servers/b.py": "from ..core import a\nserve = 1\n",
        "bench/__init__.py": "", "bench/m.py": "from ..tls import c\nfrom ..servers import serve\n",
        "tls/__init__.py": "", "tls/c.py": "def f():\n    from ..servers.b import serve\n",
    })
    assert problems(root) == []


# -- the package itself ------------------------------------------------------------------
def test_every_import_of_the_package_points_down_and_none_goes_round():
    said = problems(PACKAGE)
    assert not said, "\n".join(said)


def test_every_part_of_the_package_has_a_layer():
    parts = {path.name for path in PACKAGE.iterdir()
             if (path.is_dir() and (path / "__init__.py").exists()) or path.suffix == ".py"}
    parts = {part.removesuffix(".py") for part in parts} - {"__init__", "__main__"}
    assert parts <= set(LAYERS), f"parts without a layer: {sorted(parts - set(LAYERS))}"


def test_the_layer_rules_are_written_where_a_reader_looks():
    doc = ast.get_docstring(ast.parse((PACKAGE / "__init__.py").read_text()))
    for part in LAYERS:
        if (PACKAGE / part).exists() or (PACKAGE / f"{part}.py").exists():
            assert part in doc, f"the package docstring does not place {part!r} in a layer"


def test_the_readme_table_places_every_part_in_its_layer():
    readme = (PACKAGE.parent / "README.md").read_text()
    section = readme.partition("## Architecture")[2].partition("\n## ")[0]
    rows = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) >= 2 and cells[0].isdigit():
            for part in cells[1].replace("`", "").split(","):
                rows[part.strip().split(" ")[0].rstrip("/").removesuffix(".py")] = int(cells[0])
    assert rows == LAYERS, f"README.md's architecture table says {rows}, the layer test says {LAYERS}"
