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

import bisect
import functools
import itertools
import math
import string
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

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

    def table(
        self,
        inputs: np.ndarray,
        fixed: dict[tuple[int, ...], int] | None = None,
        path: tuple[int, ...] = (),
    ) -> int:
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
            result: int = ((1 << m) - 1) ^ vals[0]
            return result
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

    def to_dict(self) -> dict[str, Any]:
        return {"formula": str(self), "variables": list(self.variable_names())}


@dataclass(frozen=True)
class _Skeleton:
    op: str  # "var", "and", "or"
    children: tuple[_Skeleton, ...]
    var: int
    key: str  # the reference's string, used only for the canonical order


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


def _root_table(
    flat: list[tuple[str, int, int, int]],
    negated: tuple[int, ...],
    columns: Sequence[int],
    full: int,
) -> int:
    values = [0] * len(flat)
    for i in range(len(flat) - 1, -1, -1):
        op, left, right, var = flat[i]
        if op == "var":
            t = columns[var]
        elif op == "and":
            t = values[left] & values[right]
        else:
            t = values[left] | values[right]
        values[i] = full ^ t if i in negated else t
    return values[0]


_UNREACHABLE = 1 << 30
#: Up to this many distinct truth tables (3 inputs), NOT counts are dense arrays over all
#: tables and a min-plus combination is one vectorised gather-and-reduce; above, sparse dicts.
_DENSE_TABLES = 256


class _NotCounts:
    """Fewest NOT gates per computable table, memoised across skeletons.

    For a node, ``best`` gives, for every truth table the node's subtree can output, the fewest
    NOT gates achieving it (a min-plus DP over the tree; ``_UNREACHABLE`` or absent otherwise).
    A subtree with no decided NOT gates has the same ``best`` wherever it occurs, so it is
    memoised by its key: skeletons of one depth share their subtrees, and each new skeleton
    costs one combination at its root. During the greedy search for the first placement only
    the nodes on the path to the next undecided id change; fully decided subtrees are cached
    per search.
    """

    def __init__(self, columns: Sequence[int], full: int) -> None:
        self.columns, self.full = columns, full
        self.memo: dict[str, Any] = {}
        self.dense = full + 1 <= _DENSE_TABLES
        if self.dense:
            tables = np.arange(full + 1)
            self.neg = full ^ tables
            self.groups = {}
            for op, fn in (("and", np.bitwise_and), ("or", np.bitwise_or)):
                result = fn.outer(tables, tables).ravel()
                order = np.argsort(result, kind="stable")
                starts = np.searchsorted(result[order], tables)
                self.groups[op] = (order, starts)  # every table is reached (a op a = a)

    def leaf(self, var: int) -> Any:
        if self.dense:
            out = np.full(self.full + 1, _UNREACHABLE, dtype=np.int64)
            out[self.columns[var]] = 0
            return out
        return {self.columns[var]: 0}

    def get(self, best: Any, table: int) -> int | None:
        c = int(best[table]) if self.dense else best.get(table, _UNREACHABLE)
        return None if c >= _UNREACHABLE else c

    def combine(self, op: str, left: Any, right: Any) -> Any:
        if self.dense:
            order, starts = self.groups[op]
            sums = (left[:, None] + right[None, :]).ravel()
            return np.minimum(np.minimum.reduceat(sums[order], starts), _UNREACHABLE)
        base: dict[int, int] = {}
        for ta, ca in left.items():
            for tb, cb in right.items():
                t = ta & tb if op == "and" else ta | tb
                if ca + cb < base.get(t, _UNREACHABLE):
                    base[t] = ca + cb
        return base

    def negated(self, base: Any) -> Any:
        if self.dense:
            return np.minimum(base[self.neg] + 1, _UNREACHABLE)
        return {self.full ^ t: c + 1 for t, c in base.items()}

    def with_optional_not(self, base: Any) -> Any:
        if self.dense:
            return np.minimum(base, self.negated(base))
        cur = dict(base)
        for t, c in base.items():
            if c + 1 < cur.get(self.full ^ t, _UNREACHABLE):
                cur[self.full ^ t] = c + 1
        return cur

    def free(self, skel: _Skeleton) -> Any:
        """``best`` of a subtree whose NOT gates are all free."""
        hit = self.memo.get(skel.key)
        if hit is None:
            if skel.op == "var":
                base = self.leaf(skel.var)
            else:
                base = self.combine(
                    skel.op, self.free(skel.children[0]), self.free(skel.children[1])
                )
            hit = self.memo[skel.key] = self.with_optional_not(base)
        return hit

    def constrained(
        self, flat: _Flat, decided: Sequence[bool], cache: dict[int, Any], i: int = 0
    ) -> Any:
        """``best`` of node ``i`` when ids below ``len(decided)`` carry a NOT exactly when
        ``decided[id]``; ``cache`` holds fully decided subtrees of this search."""
        if i >= len(decided):
            return self.free(flat.nodes[i])
        done = i + flat.sizes[i] <= len(decided)
        if done and i in cache:
            return cache[i]
        node = flat.nodes[i]
        if node.op == "var":
            base = self.leaf(node.var)
        else:
            left, right = flat.children[i]
            base = self.combine(
                node.op,
                self.constrained(flat, decided, cache, left),
                self.constrained(flat, decided, cache, right),
            )
        out = self.negated(base) if decided[i] else base
        if done:
            cache[i] = out
        return out


@dataclass(frozen=True)
class _Flat:
    """A skeleton in preorder: per id its node, subtree size and children's ids."""

    nodes: tuple[_Skeleton, ...]
    sizes: tuple[int, ...]
    children: tuple[tuple[int, int], ...]

    @staticmethod
    def of(skel: _Skeleton) -> _Flat:
        nodes: list[_Skeleton] = []
        sizes: list[int] = []
        children: list[tuple[int, int]] = []

        def visit(node: _Skeleton) -> int:
            me = len(nodes)
            nodes.append(node)
            sizes.append(1)
            children.append((-1, -1))
            if node.op != "var":
                left = visit(node.children[0])
                right = visit(node.children[1])
                children[me] = (left, right)
                sizes[me] = 1 + sizes[left] + sizes[right]
            return me

        visit(skel)
        return _Flat(tuple(nodes), tuple(sizes), tuple(children))

    def legacy(self) -> list[tuple[str, int, int, int]]:
        return [(n.op, c[0], c[1], n.var) for n, c in zip(self.nodes, self.children, strict=True)]


def _build(skel: _Skeleton, negated: frozenset[int], start: int = 0) -> tuple[Formula, int]:
    if skel.op == "var":
        node, size = Formula("var", (), skel.var), 1
    else:
        a, na = _build(skel.children[0], negated, start + 1)
        b, nb = _build(skel.children[1], negated, start + 1 + na)
        node, size = Formula(skel.op, (a, b)), 1 + na + nb
    return (Formula("not", (node,)) if start in negated else node), size


def _variables(
    f: Formula, path: tuple[int, ...] = (), parent_op: str | None = None
) -> Iterator[tuple[int, ...]]:
    if f.op != "var" and path and parent_op != "not":
        yield path
    for i, c in enumerate(f.children):
        yield from _variables(c, (*path, i), f.op)


def _first_placement(flat: _Flat, size: int, counts: _NotCounts, target: int) -> frozenset[int]:
    """The first NOT placement in the reference's order (by size, then lexicographic) that
    computes ``target``; no placement smaller than ``size`` (the fewest) does."""
    n = len(flat.nodes)
    if math.comb(n, size) <= 256:
        legacy = flat.legacy()
        return frozenset(
            next(
                neg
                for neg in itertools.combinations(range(n), size)
                if _root_table(legacy, neg, counts.columns, counts.full) == target
            )
        )
    # lexicographically first = take each id, in order, whenever the target stays reachable
    # with ``size`` NOTs in all
    decided: list[bool] = []
    cache: dict[int, dict[int, int]] = {}
    for _ in range(n):
        if sum(decided) == size:
            take = False
        else:
            trial = [*decided, True]
            take = counts.get(counts.constrained(flat, trial, dict(cache)), target) == size
        decided.append(take)
        counts.constrained(flat, decided, cache)  # fill the cache for the decided prefix
    return frozenset(i for i, d in enumerate(decided) if d)


@functools.lru_cache(maxsize=64)
def _candidate_algorithms(
    table: tuple[int, ...], n_vars: int, max_depth: int
) -> tuple[Algorithm, ...]:
    m = len(table)
    rows = np.array(list(itertools.product((0, 1), repeat=n_vars)), dtype=np.int64)
    columns = [int((rows[:, i] << np.arange(m)).sum()) for i in range(n_vars)]
    target = sum(bit << r for r, bit in enumerate(table))
    full = (1 << m) - 1
    counts = _NotCounts(columns, full)
    out = []
    for depth in range(max_depth + 1):
        for skel in _skeletons(depth, n_vars):
            fewest = counts.get(counts.free(skel), target)
            if fewest is None:
                continue
            found = _first_placement(_Flat.of(skel), fewest, counts, target)
            formula = _build(skel, found)[0]
            out.append(Algorithm(formula, tuple(_variables(formula))))
    return tuple(out)


#: Most skeletons of one depth listed to count the next depth.
MAX_LISTED_SKELETONS = 100_000


def count_skeletons(max_depth: int, n_vars: int = 2) -> int:
    """Number of skeletons of AND/OR depth ``0..max_depth`` over ``n_vars`` inputs: the number
    of candidate formulas tested (each skeleton yields at most one algorithm).

    Counted without listing the deepest level: a depth-``d`` skeleton pairs a left child of
    depth ``d - 1`` with a right child of smaller depth whose string is larger, so the count is
    a sum of binary searches over the listed shallower skeletons (7,654 for two inputs at depth
    4, 58,576,060 at depth 5). When a shallower level has more than
    ``MAX_LISTED_SKELETONS`` skeletons to list, :class:`ValueError` gives a lower bound instead.
    """
    if max_depth < 0 or n_vars < 1:
        raise ValueError(f"need max_depth >= 0 and n_vars >= 1, got {max_depth}, {n_vars}")
    total, level = n_vars, n_vars
    for depth in range(1, max_depth + 1):
        if level > MAX_LISTED_SKELETONS:
            raise ValueError(
                f"more than {total:,} skeletons of depth <= {max_depth} over {n_vars} inputs "
                f"(depth {depth - 1} alone has {level:,}, too many to list for an exact count)"
            )
        smaller = sorted(_stripped(s.key) for d in range(depth) for s in _skeletons(d, n_vars))
        level = 0
        for left in _skeletons(depth - 1, n_vars):
            level += 2 * (len(smaller) - bisect.bisect_right(smaller, _stripped(left.key)))
        total += level
    return total


def candidate_algorithms(
    truth_table: Sequence[int] | np.ndarray, max_depth: int
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
