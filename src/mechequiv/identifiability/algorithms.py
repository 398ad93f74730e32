"""What: candidate algorithms, i.e. AND/OR formula trees with NOT gates that compute the target.

Generation follows Méloux et al.'s code so that the candidate family is the same (56 formulas for
XOR at depth 3):

* A *skeleton* is an AND/OR tree over the input variables ``A, B, ...``. Depth 0 skeletons are
  single variables; a depth-``d`` skeleton has a left child of depth exactly ``d - 1`` and a right
  child of any depth ``< d``, the left child's string strictly smaller than the right child's
  (strings over ``*`` = AND and ``+`` = OR, outer parentheses dropped; this canonical order means
  a skeleton with two identical children is never generated). All depths ``0..max_depth``.
* NOT gates may sit on any set of skeleton nodes (preorder ids); sets are tried smallest first, in
  lexicographic order within a size, and the **first** placement computing the target is kept, so
  each skeleton yields at most one algorithm.
* The variables to localise are the internal nodes other than the root, where a NOT and its child
  form one variable (the NOT's output); a NOT on an input (``¬A``) is a variable.
"""

from __future__ import annotations

import functools
import itertools
import string
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

_SYMBOL = {"and": "∧", "or": "∨"}
_KEY_SYMBOL = {"and": "*", "or": "+"}  # the reference's ASCII order decides which skeletons exist


@dataclass(frozen=True)
class Formula:
    """A Boolean formula tree: ``op`` is ``"var"`` (input ``var``), ``"not"``, ``"and"`` or
    ``"or"``."""

    op: str
    children: tuple[Formula, ...] = ()
    var: int = -1

    def table(self, inputs: np.ndarray, fixed: dict[tuple[int, ...], int] | None = None,
              path: tuple[int, ...] = ()) -> int:
        """Truth table as a bitmask (bit ``r`` = value on row ``r`` of ``inputs``).

        ``fixed`` maps node paths (child indices from the root) to a constant 0/1 that replaces
        the node's output (an intervention).
        """
        m = inputs.shape[0]
        if fixed and path in fixed:
            return (1 << m) - 1 if fixed[path] else 0
        if self.op == "var":
            return int((inputs[:, self.var].astype(np.int64) << np.arange(m)).sum())
        vals = [c.table(inputs, fixed, (*path, i)) for i, c in enumerate(self.children)]
        if self.op == "not":
            return ((1 << m) - 1) ^ vals[0]
        if self.op == "and":
            return vals[0] & vals[1]
        return vals[0] | vals[1]

    def node(self, path: tuple[int, ...]) -> Formula:
        node = self
        for i in path:
            node = node.children[i]
        return node

    def __str__(self) -> str:
        s = self._str()
        return s[1:-1] if s.startswith("(") else s

    def _str(self) -> str:
        if self.op == "var":
            return string.ascii_uppercase[self.var]
        if self.op == "not":
            return "¬" + self.children[0]._str()
        return f"({self.children[0]._str()}{_SYMBOL[self.op]}{self.children[1]._str()})"


@dataclass(frozen=True)
class Algorithm:
    """A candidate algorithm: a formula and the paths of its intermediate variables (preorder)."""

    formula: Formula
    variables: tuple[tuple[int, ...], ...]

    def variable_names(self) -> tuple[str, ...]:
        return tuple(str(self.formula.node(p)) for p in self.variables)

    def __str__(self) -> str:
        return str(self.formula)

    def to_dict(self) -> dict:
        return {"formula": str(self), "variables": list(self.variable_names())}


@dataclass(frozen=True)
class _Skeleton:
    op: str  # "var", "and", "or"
    children: tuple[_Skeleton, ...]
    var: int
    key: str  # the reference's string, used only for the canonical order

    def nodes(self) -> list[_Skeleton]:
        """Preorder node list (ids = positions)."""
        out = [self]
        for c in self.children:
            out.extend(c.nodes())
        return out


def _stripped(key: str) -> str:
    return key[1:-1] if key.startswith("(") else key


@functools.lru_cache(maxsize=32)
def _skeletons(depth: int, n_vars: int) -> tuple[_Skeleton, ...]:
    """Skeletons of depth exactly ``depth`` in the reference's generation order."""
    if depth == 0:
        return tuple(_Skeleton("var", (), i, string.ascii_uppercase[i]) for i in range(n_vars))
    out = []
    for left in _skeletons(depth - 1, n_vars):
        for d in range(depth):
            for right in _skeletons(d, n_vars):
                if _stripped(left.key) < _stripped(right.key):
                    for op in ("and", "or"):
                        key = f"({left.key}{_KEY_SYMBOL[op]}{right.key})"
                        out.append(_Skeleton(op, (left, right), -1, key))
    return tuple(out)


def _tables(skel: _Skeleton, negated: frozenset[int], columns: Sequence[int], full: int,
            start: int = 0) -> tuple[int, int]:
    """Truth table of the skeleton with NOTs on preorder ids ``negated``; returns (table, size)."""
    if skel.op == "var":
        t, size = columns[skel.var], 1
    else:
        a, na = _tables(skel.children[0], negated, columns, full, start + 1)
        b, nb = _tables(skel.children[1], negated, columns, full, start + 1 + na)
        t, size = (a & b if skel.op == "and" else a | b), 1 + na + nb
    return (full ^ t if start in negated else t), size


def _reachable(skel: _Skeleton, columns: Sequence[int], full: int) -> set[int]:
    """Every table the skeleton can compute under some NOT placement (a cheap pre-filter)."""
    if skel.op == "var":
        base = {columns[skel.var]}
    else:
        left = _reachable(skel.children[0], columns, full)
        right = _reachable(skel.children[1], columns, full)
        base = {(a & b if skel.op == "and" else a | b) for a in left for b in right}
    return base | {full ^ t for t in base}


def _build(skel: _Skeleton, negated: frozenset[int], start: int = 0) -> tuple[Formula, int]:
    if skel.op == "var":
        node, size = Formula("var", (), skel.var), 1
    else:
        a, na = _build(skel.children[0], negated, start + 1)
        b, nb = _build(skel.children[1], negated, start + 1 + na)
        node, size = Formula(skel.op, (a, b)), 1 + na + nb
    return (Formula("not", (node,)) if start in negated else node), size


def _variables(f: Formula, path: tuple[int, ...] = (), parent_op: str | None = None
               ) -> Iterator[tuple[int, ...]]:
    if f.op != "var" and path and parent_op != "not":
        yield path
    for i, c in enumerate(f.children):
        yield from _variables(c, (*path, i), f.op)


@functools.lru_cache(maxsize=64)
def _candidate_algorithms(table: tuple[int, ...], n_vars: int, max_depth: int
                          ) -> tuple[Algorithm, ...]:
    m = len(table)
    rows = np.array(list(itertools.product((0, 1), repeat=n_vars)), dtype=np.int64)
    columns = [int((rows[:, i] << np.arange(m)).sum()) for i in range(n_vars)]
    target = sum(bit << r for r, bit in enumerate(table))
    full = (1 << m) - 1
    out = []
    for depth in range(max_depth + 1):
        for skel in _skeletons(depth, n_vars):
            if target not in _reachable(skel, columns, full):
                continue
            n_nodes = len(skel.nodes())
            found = next(
                frozenset(neg)
                for size in range(n_nodes + 1)
                for neg in itertools.combinations(range(n_nodes), size)
                if _tables(skel, frozenset(neg), columns, full)[0] == target
            )
            formula = _build(skel, found)[0]
            out.append(Algorithm(formula, tuple(_variables(formula))))
    return tuple(out)


def candidate_algorithms(truth_table: Sequence[int] | np.ndarray, max_depth: int
                         ) -> tuple[Algorithm, ...]:
    """Every candidate algorithm for a Boolean target, in the reference's order.

    Parameters
    ----------
    truth_table
        Target bits on the ``2**n`` input rows in lexicographic order (``A`` most significant,
        i.e. rows ``00, 01, 10, 11`` for two inputs).
    max_depth
        Largest AND/OR depth of a skeleton (NOTs do not count); the paper uses the number of
        hidden layers plus one.
    """
    bits = tuple(int(b) for b in np.asarray(truth_table).ravel())
    n_vars = len(bits).bit_length() - 1 if bits else 0
    if len(bits) < 2 or 2**n_vars != len(bits) or any(b not in (0, 1) for b in bits):
        raise ValueError(
            f"truth_table must hold 2**n bits (0/1) for n >= 1 inputs, got {len(bits)} entries "
            f"{bits[:8]}"
        )
    if n_vars > len(string.ascii_uppercase):
        raise ValueError(f"at most 26 inputs are supported, got {n_vars}")
    if max_depth < 0:
        raise ValueError(f"max_depth must be >= 0, got {max_depth}")
    return _candidate_algorithms(bits, n_vars, int(max_depth))
