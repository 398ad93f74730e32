"""The package's import graph: every module imports on its own, arrows point one way, no cycles.

Layers, lowest first: the root modules (errors, validation, tokens, ...) -> capture -> measures
-> parallel -> zoo -> the methods (equivalence, tensorsim, identifiability; none imports
another) -> report (the toolkit: blocks, figures, validation; it knows no experiment) -> study
(each section builds its part of the page from the toolkit) -> cli / demo. An import may point down or sideways within its own
package, never up. Function-local imports count: an import hidden in a function is still an
arrow, and one that closes a cycle only defers the failure to run time.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "mechequiv"

LAYERS = {
    "": 0, "capture": 1, "measures": 2, "parallel": 3, "zoo": 4,
    "equivalence": 5, "tensorsim": 5, "identifiability": 5,
    "report": 6, "study": 7, "cli": 8, "demo": 8,
}  # fmt: skip
METHODS = {"equivalence", "tensorsim", "identifiability"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _layer(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return ""
    top = parts[1]
    return top if top in LAYERS else ""  # root modules (errors, tokens, ...) are the base


def _resolve(importer: str, node: ast.ImportFrom | ast.Import) -> list[str]:
    """Project modules an import statement loads (a submodule where ``from pkg import name``
    names one, else the package)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name.split(".")[0] == "mechequiv"]
    if node.level:
        base = importer.split(".")
        if MODULES[importer].name != "__init__.py":
            base = base[:-1]
        base = base[: len(base) - node.level + 1]
        target = ".".join(base + ([node.module] if node.module else []))
    else:
        target = node.module or ""
    if target.split(".")[0] != "mechequiv":
        return []
    out = []
    for alias in node.names:
        sub = f"{target}.{alias.name}"
        out.append(sub if sub in MODULES else target)
    return out


def _edges() -> dict[str, set[str]]:
    """importer -> imported project modules, module-level and function-local imports alike
    (imports under ``if TYPE_CHECKING:`` are left out: they never run)."""
    edges: dict[str, set[str]] = defaultdict(set)
    for name, path in MODULES.items():
        tree = ast.parse(path.read_text())
        skip = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                skip |= {id(n) for child in node.body for n in ast.walk(child)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom) and id(node) not in skip:
                for target in _resolve(name, node):
                    # a package's own __init__ reached from inside it is the package being set
                    # up, not an arrow (Python initialises parents first)
                    if target != name and not name.startswith(target + "."):
                        edges[name].add(target)
    return edges


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(set(MODULES) | set(edges)):
        if v not in index:
            visit(v)
    return found


@pytest.mark.slow
def test_every_module_imports_first_in_a_fresh_interpreter() -> None:
    """Each module imported with no project module loaded before it (third-party modules stay
    loaded, so one interpreter serves them all): an import-order cycle fails here."""
    code = (
        "import importlib, sys, traceback\n"
        "failed = []\n"
        f"for name in {sorted(MODULES)!r}:\n"
        "    for m in [m for m in sys.modules if m == 'mechequiv' or m.startswith('mechequiv.')]:\n"
        "        del sys.modules[m]\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except Exception:\n"
        "        failed.append(name + ': ' + traceback.format_exc(limit=3))\n"
        "print('\\n'.join(failed))\n"
        "sys.exit(1 if failed else 0)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=600,
        env={"PYTHONPATH": str(SRC), "PATH": "", "OMP_NUM_THREADS": "1"},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]


def test_the_graph_parser_sees_what_it_should() -> None:
    edges = _edges()
    assert "mechequiv.capture.protocol" in edges["mechequiv.capture.adapters.layouts"]
    assert "mechequiv.equivalence.residual" in edges["mechequiv.equivalence.samplers"]
    assert _cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]
    assert _layer("mechequiv.errors") == "" and _layer("mechequiv.study.run") == "study"


def _upward() -> dict[tuple[str, str], list[str]]:
    bad: dict[tuple[str, str], list[str]] = defaultdict(list)
    for a, targets in _edges().items():
        for b in targets:
            la, lb = _layer(a), _layer(b)
            if la == lb:
                continue
            if LAYERS[la] < LAYERS[lb] or (la in METHODS and lb in METHODS):
                bad[(la, lb)].append(f"{a} -> {b}")
    return bad


def test_no_arrow_points_up() -> None:
    bad = _upward()
    assert not bad, "\n".join(f"{k}: {v}" for k, v in bad.items())


def test_no_import_cycles() -> None:
    cycles = _cycles(_edges())
    assert not cycles, cycles
