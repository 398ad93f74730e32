"""A fingerprint of the code a study step runs, for its cache key.

A step's cached result is valid only for the code that computed it. The fingerprint hashes the
source of every mechequiv module the step can reach: the imports inside the step function and
the helper functions of its own module it calls (found by name, transitively), then every
mechequiv module those import, at module level or inside functions, transitively. Importing a
submodule runs its packages' ``__init__``, so those count too. The analysis is static (the
modules' syntax trees, nothing executed) and conservative: a package import counts the whole
package ``__init__`` and what it imports, so an unrelated edit there also invalidates the cache,
never the reverse. Third-party code is not hashed (its versions are recorded in the results).
"""

from __future__ import annotations

import ast
import functools
import hashlib
import inspect
import sys
import textwrap
from collections.abc import Callable, Iterable
from functools import cache
from pathlib import Path
from typing import Any

PACKAGE = "mechequiv"


@cache
def _module_file(name: str) -> Path | None:
    """The source file of mechequiv module ``name``, or None if there is none (e.g. a class
    name in ``from mechequiv.x import Name``). Found on disk, nothing is imported."""
    import mechequiv

    parts = name.split(".")
    if parts[0] != PACKAGE:
        return None
    base = Path(mechequiv.__file__).parent.joinpath(*parts[1:])
    for path in (base / "__init__.py", base.with_suffix(".py")):
        if path.is_file():
            return path
    return None


def module_source(name: str) -> bytes:
    """The source bytes of module ``name`` (the hook the tests replace)."""
    path = _module_file(name)
    return path.read_bytes() if path is not None else b""


def _type_checking_only(tree: ast.AST) -> set[int]:
    """Ids of the nodes inside ``if TYPE_CHECKING:`` blocks: imports there never run."""
    out: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If):
            test = node.test
            name = test.id if isinstance(test, ast.Name) else getattr(test, "attr", None)
            if name == "TYPE_CHECKING":
                out.update(id(n) for child in node.body for n in ast.walk(child))
    return out


def _imported(tree: ast.AST) -> set[str]:
    """mechequiv modules named by the imports anywhere in ``tree`` (with their packages), except
    those only a type checker reads."""
    out: set[str] = set()
    skip = _type_checking_only(tree)
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # ``from mechequiv import measures``: the submodule, if ``measures`` is one
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        else:
            continue
        for name in names:
            if name == PACKAGE or name.startswith(PACKAGE + "."):
                parts = name.split(".")
                out.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
    return {m for m in out if _module_file(m) is not None}


@cache
def _module_imports(name: str) -> frozenset[str]:
    source = module_source(name)
    return frozenset(_imported(ast.parse(source))) if source else frozenset()


def module_closure(roots: Iterable[str]) -> set[str]:
    """Every mechequiv module reachable from ``roots`` by imports (``roots`` included)."""
    seen: set[str] = set()
    todo = [r for r in roots if _module_file(r) is not None]
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(_module_imports(name) - seen)
    return seen


def _function_roots(fn: Callable[..., Any]) -> tuple[set[str], list[str]]:
    """The modules ``fn`` depends on, and the sources of ``fn`` and its same-module helpers."""
    module = sys.modules[fn.__module__]
    module_tree = ast.parse(inspect.getsource(module))
    # module-level names of fn's module that are functions (helpers) or imports
    helpers: dict[str, ast.AST] = {}
    imported_as: dict[str, set[str]] = {}
    for node in module_tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            helpers[node.name] = node
        elif isinstance(node, ast.Import | ast.ImportFrom):
            for alias in node.names:
                bound = (alias.asname or alias.name).split(".")[0]
                imported_as.setdefault(bound, set()).update(_imported(node))
    roots: set[str] = set()
    sources: list[str] = []
    todo: list[ast.AST] = [ast.parse(textwrap.dedent(inspect.getsource(fn)))]
    visited: set[str] = {fn.__name__}
    while todo:
        tree = todo.pop()
        sources.append(ast.dump(tree, include_attributes=False))
        roots |= _imported(tree)
        for code in _walk_code(tree):
            if isinstance(code, ast.Name):
                roots |= imported_as.get(code.id, set())
                if code.id in helpers and code.id not in visited:
                    visited.add(code.id)
                    todo.append(helpers[code.id])
    return roots, sources


def _walk_code(tree: ast.AST) -> Iterable[ast.AST]:
    """``ast.walk`` without annotations: a type named in a signature is not code that runs."""
    todo = [tree]
    while todo:
        node = todo.pop()
        yield node
        for name, child in ast.iter_fields(node):
            if name in ("annotation", "returns"):
                continue
            if isinstance(child, ast.AST):
                todo.append(child)
            elif isinstance(child, list):
                todo.extend(c for c in child if isinstance(c, ast.AST))


def code_fingerprint(fn: Callable[..., Any]) -> str:
    """A hash of ``fn``'s code, its same-module helpers and every mechequiv module they reach.

    ``fn``'s own module is represented by the functions ``fn`` uses, not by its whole source, so
    editing one study step leaves the other steps' cache valid.
    """
    while isinstance(fn, functools.partial):
        fn = fn.func
    try:
        roots, sources = _function_roots(fn)
        roots.discard(fn.__module__)
    except (OSError, TypeError, KeyError, AttributeError):
        # No source to read (a callable object, code without a file): count the whole module
        # that defines it, which is never less than what it can reach.
        owner = fn if hasattr(fn, "__code__") else type(fn)
        roots = {owner.__module__}
        sources = [f"{owner.__module__}.{owner.__qualname__}"]
    h = hashlib.sha256()
    for src in sources:
        h.update(src.encode())
    for name in sorted(module_closure(roots)):
        h.update(name.encode() + b"\0" + module_source(name) + b"\0")
    return h.hexdigest()[:16]


def clear_cache() -> None:
    """Forget parsed modules (after a module's source changed in this process)."""
    _module_imports.cache_clear()
    _module_file.cache_clear()
