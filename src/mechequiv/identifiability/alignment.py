"""Where (after what): localise an algorithm's variables by interchange interventions.

Conventions (Méloux et al.'s code, with the pair direction made explicit):

* A variable's candidate location is a non-empty set of neurons of **one** hidden layer.
* Test of variable ``V`` at neurons ``N`` on a pair (source ``s``, base ``b``): run the full
  network on ``b`` with ``N``'s activations replaced by their values on ``s``; the output bit
  (``output > 0.5``) must equal the algorithm's output on ``b`` with ``V`` fixed to its value on
  ``s``. ``V`` passes at ``N`` when every pair agrees (interchange-intervention accuracy 1).
  Variables are intervened on one at a time.
* Pairs: ``"forward"`` uses each unordered pair of distinct task rows once, source = earlier row
  in task order (rows ``00, 01, 10, 11``), base = later row: the reference code's choice when
  Python's string hashing orders ``A`` before ``B`` (its direction otherwise depends on
  ``PYTHONHASHSEED``). ``"both"`` uses all ordered pairs of distinct rows (stricter).
* A mapping assigns every variable a passing location, locations pairwise disjoint; it is
  minimal when no other mapping's locations are all contained in its own. Because each test
  involves one variable only, the minimal mappings are exactly the disjoint choices of one
  inclusion-minimal passing location per variable; they are counted layer by layer (disjoint
  placements of every subset of variables within one layer, then a subset convolution across
  layers), never listed. An algorithm without intermediate variables has exactly one (empty)
  mapping.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mechequiv.identifiability.algorithms import Algorithm, Formula
from mechequiv.identifiability.network import MLPNet

PAIR_CONVENTIONS = ("forward", "both")


def input_pairs(m: int, pairs: str) -> list[tuple[int, int]]:
    """(source, base) row pairs for ``m`` task rows under the convention ``pairs``."""
    if pairs == "forward":
        return [(s, b) for s in range(m) for b in range(s + 1, m)]
    if pairs == "both":
        return [(s, b) for s in range(m) for b in range(m) if s != b]
    raise ValueError(f"pairs must be one of {PAIR_CONVENTIONS}, got {pairs!r}")


@dataclass(frozen=True)
class Mapping:
    """One minimal mapping: per variable (in ``algorithm.variables`` order) a hidden layer index
    (0 = first hidden layer) and the neurons of that layer."""

    algorithm: Algorithm
    locations: tuple[tuple[int, tuple[int, ...]], ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "algorithm": str(self.algorithm),
            "locations": [
                {"variable": name, "layer": layer, "neurons": list(neurons)}
                for name, (layer, neurons) in zip(
                    self.algorithm.variable_names(), self.locations, strict=True
                )
            ],
        }

    def __repr__(self) -> str:
        locs = ", ".join(
            f"{name}->L{layer}{list(neurons)}"
            for name, (layer, neurons) in zip(
                self.algorithm.variable_names(), self.locations, strict=True
            )
        )
        return f"Mapping({self.algorithm}: {locs or 'no variables'})"


def patched_bits(net: MLPNet, x: np.ndarray, pairs: Sequence[tuple[int, int]]) -> list[np.ndarray]:
    """Per hidden layer, the output bits ``(2**w - 1, len(pairs))`` after patching neuron set
    ``code + 1`` (bit ``j`` = neuron ``j``) from each pair's source into its base."""
    acts = net.forward(x)
    src = np.array([s for s, _ in pairs])
    base = np.array([b for _, b in pairs])
    out = []
    for layer, h in enumerate(acts[1:-1]):
        w = h.shape[1]
        codes = np.arange(1, 2**w)
        mask = ((codes[:, None] >> np.arange(w)) & 1).astype(bool)  # (S, w)
        patched = np.where(mask[:, None, :], h[src][None], h[base][None])  # (S, P, w)
        y = net.run_from(layer + 1, patched)[..., 0]
        out.append(y > 0.5)
    return out


def _minimal_codes(passing: np.ndarray) -> list[int]:
    """Inclusion-minimal sets among the passing neuron sets (codes are bitmasks)."""
    codes = sorted((int(c) for c in passing), key=lambda c: (c.bit_count(), c))
    minimal: list[int] = []
    for c in codes:
        if not any(t & c == t for t in minimal):
            minimal.append(c)
    return minimal


PassingIndex = list[dict[int, list[int]]]


def passing_index(bits: Sequence[np.ndarray]) -> PassingIndex:
    """Per hidden layer, every observed interchange outcome -> its inclusion-minimal neuron sets.

    An outcome is the output bits over the pairs, as an integer (bit ``p`` = pair ``p``). A
    variable passes at a neuron set exactly when its expected outcome equals the set's, so
    looking the expected outcome up replaces testing every set, and a variable whose outcome no
    set produces rules its algorithm out before any other variable is looked at.
    """
    out = []
    for layer_bits in bits:
        n_pairs = layer_bits.shape[1]
        kind = np.int64 if n_pairs < 63 else object  # exact integers either way
        weights = np.array([1 << p for p in range(n_pairs)], dtype=kind)
        outcomes = (layer_bits.astype(kind) * weights).sum(axis=1)
        groups: dict[int, list[int]] = {}
        for code, outcome in enumerate(outcomes, start=1):
            groups.setdefault(int(outcome), []).append(code)
        out.append({k: _minimal_codes(np.asarray(v)) for k, v in groups.items()})
    return out


def _tables(formula: Formula, columns: Sequence[int], full: int) -> dict[tuple[int, ...], int]:
    """Truth table (bitmask over task rows) of every node, keyed by path."""
    out: dict[tuple[int, ...], int] = {}

    def visit(node: Formula, path: tuple[int, ...]) -> int:
        if node.op == "var":
            t = columns[node.var]
        else:
            vals = [visit(c, (*path, i)) for i, c in enumerate(node.children)]
            if node.op == "not":
                t = full ^ vals[0]
            elif node.op == "and":
                t = vals[0] & vals[1]
            else:
                t = vals[0] | vals[1]
        out[path] = t
        return t

    visit(formula, ())
    return out


def _fixed_root(
    formula: Formula, tables: dict[tuple[int, ...], int], path: tuple[int, ...], value: int,
    full: int,
) -> int:  # fmt: skip
    """Root table with the node at ``path`` replaced by the constant ``value``: only the
    node's ancestors are re-evaluated."""
    t = full if value else 0
    for depth in range(len(path) - 1, -1, -1):
        parent = path[:depth]
        node = formula.node(parent)
        if node.op == "not":
            t = full ^ t
        else:
            sibling = tables[(*parent, 1 - path[depth])]
            t = t & sibling if node.op == "and" else t | sibling
    return t


def expected_outcomes(
    algorithm: Algorithm, inputs: np.ndarray, pairs: Sequence[tuple[int, int]]
) -> list[int]:
    """Per variable, the algorithm's output bits under its interchange on each pair (bit ``p``
    = pair ``p``): the outcome a passing neuron set must reproduce."""
    m = inputs.shape[0]
    full = (1 << m) - 1
    columns = [
        int((inputs[:, j].astype(np.int64) << np.arange(m)).sum()) for j in range(inputs.shape[1])
    ]
    tables = _tables(algorithm.formula, columns, full)
    out = []
    for path in algorithm.variables:
        value = tables[path]
        fixed = (
            _fixed_root(algorithm.formula, tables, path, 0, full),
            _fixed_root(algorithm.formula, tables, path, 1, full),
        )
        outcome = 0
        for p, (s, b) in enumerate(pairs):
            outcome |= ((fixed[(value >> s) & 1] >> b) & 1) << p
        out.append(outcome)
    return out


def variable_locations(
    algorithm: Algorithm,
    inputs: np.ndarray,
    pairs: Sequence[tuple[int, int]],
    bits: Sequence[np.ndarray],
    index: PassingIndex | None = None,
) -> list[list[tuple[int, int]]]:
    """Per variable, its inclusion-minimal passing locations as ``(layer, neuron bitmask)``.

    ``bits`` come from :func:`patched_bits` for the same ``inputs`` rows and ``pairs``;
    ``index`` (from :func:`passing_index` of ``bits``) can be passed to share it across
    algorithms. Stops early, returning an empty list for the first variable without a location
    (and nothing after it), since the algorithm then has no mapping.
    """
    index = passing_index(bits) if index is None else index
    out = []
    for outcome in expected_outcomes(algorithm, inputs, pairs):
        locs = [(layer, c) for layer, groups in enumerate(index) for c in groups.get(outcome, ())]
        out.append(locs)
        if not locs:
            break
    return out


def _layer_counts(locations: Sequence[Sequence[int]], variables: Sequence[int]) -> dict[int, int]:
    """For one hidden layer: every subset ``S`` of ``variables`` (a bitmask over variable
    indices) -> the number of ways to give each variable of ``S`` one of its locations in this
    layer (neuron bitmasks ``locations[v]``), pairwise disjoint.

    A dynamic programme over the variables on a dense table ``(placed variables, used neurons
    of this layer)``: ``2**len(variables) * 2**width`` entries, against the product over layers
    of ``2**width`` in a joint search. Placing a location ``c`` disjoint from ``used`` moves an
    entry to ``used + c``, one vectorised shift per (variable, location). int64 while the
    largest possible count (the product of the location counts) fits, Python integers beyond.
    """
    n = len(variables)
    width = max((c.bit_length() for v in variables for c in locations[v]), default=0)
    bound = 1
    for v in variables:
        bound *= len(locations[v]) + 1
    table = np.zeros((1 << n, 1 << width), dtype=np.int64 if bound < 2**62 else object)
    table[0, 0] = 1
    used = np.arange(1 << width)
    for i, v in enumerate(variables):
        without = np.arange(1 << n)[(np.arange(1 << n) >> i) & 1 == 0]
        src = table[without]  # entries not holding variable i yet (before any of its moves)
        for code in locations[v]:
            free = used[(used & code) == 0]
            table[np.ix_(without + (1 << i), free + code)] += src[:, free]
    totals = table.sum(axis=1)
    return {
        sum(1 << variables[i] for i in range(n) if (s >> i) & 1): int(t)
        for s, t in enumerate(totals)
        if t
    }


#: Unit costs of the two counting methods (single core): one step of the joint search (a Python
#: dict probe and tuple build) and, for the per-layer programme, one vectorised shift (fixed
#: numpy overhead), one table entry moved, one entry of the subset convolution. Calibrated so
#: that the summed estimate matches the order of the counting time measured on the width-8,
#: three-hidden-layer XOR cell of ``benchmarks/bench_identifiability_scale.py`` (the estimate
#: errs high: the bounds on reachable states and subsets are not tight).
_SECONDS_PER_JOINT_STEP = 1e-6
_SECONDS_PER_SHIFT = 4e-6
_SECONDS_PER_ENTRY = 2e-10
_SECONDS_PER_CONVOLUTION_STEP = 2e-8
COUNT_METHODS = ("auto", "joint", "per_layer")


def count_costs(locations: Sequence[Sequence[tuple[int, int]]]) -> dict[str, float]:
    """Estimated seconds of :func:`count_mappings` by each method, from the location counts
    alone (nothing is counted): ``{"joint": ..., "per_layer": ...}``.

    Joint search: at variable ``i`` at most ``prod_{j<i} |L_j|`` states, and per layer at
    most ``min(2**width, prod_{j<i} (|L_j in the layer| + 1))`` used-neuron sets, each state
    trying ``|L_i|`` locations. Per-layer programme: for
    each layer with ``n`` variables located there, one shift per (variable, location) over
    ``2**(n-1)`` rows of free neuron sets, then a subset convolution of at most
    ``2**n_vars * 2**n`` steps. Upper bounds scaled by measured unit costs: what ``"auto"``
    compares, not a promise.
    """
    if not locations or any(not locs for locs in locations):
        return {"joint": 0.0, "per_layer": 0.0}
    widths: dict[int, int] = {}
    for locs in locations:
        for layer, code in locs:
            widths[layer] = max(widths.get(layer, 0), int(code).bit_length())
    # states before variable i: used-neuron tuples, at most prod over layers of
    # min(2**width, prod_{j<i} (locations of j in that layer + 1)), and at most prod_{j<i} |L_j|
    per_layer_reach = dict.fromkeys(widths, 1.0)
    joint, reach = 0.0, 1.0
    for locs in locations:
        states = 1.0
        for layer, width in widths.items():
            states *= min(per_layer_reach[layer], 2.0**width)
        joint += min(reach, states) * len(locs)
        reach *= len(locs)
        for layer in widths:
            per_layer_reach[layer] *= 1 + sum(1 for l, _ in locs if l == layer)
    n_vars = len(locations)
    per_layer, placed = 0.0, 1.0
    for layer, width in sorted(widths.items()):
        located = [[c for l, c in locs if l == layer] for locs in locations]
        n = sum(1 for codes in located if codes)
        subsets = 1.0  # nonzero entries of this layer's counts: <= 2**n and <= prod(|L| + 1)
        for codes in located:
            subsets *= len(codes) + 1
            for code in codes:
                free = 2.0 ** (width - int(code).bit_count())
                per_layer += _SECONDS_PER_SHIFT + _SECONDS_PER_ENTRY * 2.0 ** (n - 1) * free
        subsets = min(subsets, 2.0**n)
        per_layer += _SECONDS_PER_CONVOLUTION_STEP * placed * subsets
        placed = min(placed * subsets, 2.0**n_vars)
    return {"joint": joint * _SECONDS_PER_JOINT_STEP, "per_layer": per_layer}


def _joint_count(locations: Sequence[Sequence[tuple[int, int]]]) -> int:
    """Memoised search over variables with the neurons used in every layer as state: fast
    while few states are reachable, exponential in the total width otherwise."""
    n_layers = 1 + max((layer for locs in locations for layer, _ in locs), default=0)
    memo: dict[tuple[int, tuple[int, ...]], int] = {}

    def count(i: int, used: tuple[int, ...]) -> int:
        if i == len(locations):
            return 1
        key = (i, used)
        hit = memo.get(key)
        if hit is not None:
            return hit
        total = 0
        for layer, code in locations[i]:
            if used[layer] & code:
                continue
            nxt = list(used)
            nxt[layer] |= code
            total += count(i + 1, tuple(nxt))
        memo[key] = total
        return total

    return count(0, (0,) * n_layers)


def count_mappings(locations: Sequence[Sequence[tuple[int, int]]], method: str = "auto") -> int:
    """Number of choices of one location per variable with pairwise disjoint neuron sets.

    Disjointness only constrains locations in the same layer, so the count decomposes: for
    each layer, the number of disjoint placements of every subset of the variables
    (:func:`_layer_counts`), then a subset convolution over layers (each variable in exactly
    one layer): ``method="per_layer"``. ``"joint"`` is the memoised search over the neurons
    used in all layers at once, faster while few states are reachable; ``"auto"`` picks the
    one :func:`count_costs` estimates cheaper, up front (no search is started and abandoned).
    Exact integers either way, never listing a mapping; both checked against brute-force
    enumeration in the tests.
    """
    if method not in COUNT_METHODS:
        raise ValueError(f"method must be one of {COUNT_METHODS}, got {method!r}")
    if any(not locs for locs in locations):
        return 0
    n_vars = len(locations)
    if n_vars == 0:
        return 1
    if method == "auto":
        costs = count_costs(locations)
        method = "joint" if costs["joint"] <= costs["per_layer"] else "per_layer"
    if method == "joint":
        return _joint_count(locations)
    by_layer: dict[int, list[list[int]]] = {}
    for v, locs in enumerate(locations):
        for layer, code in locs:
            by_layer.setdefault(layer, [[] for _ in range(n_vars)])[v].append(int(code))
    placed: dict[int, int] = {0: 1}  # variables placed in the layers so far -> count
    for layer in sorted(by_layer):
        per_var = by_layer[layer]
        counts = _layer_counts(per_var, [v for v in range(n_vars) if per_var[v]])
        nxt: dict[int, int] = {}
        for done, n in placed.items():
            for subset, m in counts.items():
                if done & subset:
                    continue
                nxt[done | subset] = nxt.get(done | subset, 0) + n * m
        placed = nxt
    return placed.get((1 << n_vars) - 1, 0)


def list_mappings(
    algorithm: Algorithm, locations: Sequence[Sequence[tuple[int, int]]]
) -> list[Mapping]:
    """Every minimal mapping (the disjoint choices counted by :func:`count_mappings`)."""
    found: list[Mapping] = []

    def walk(i: int, used: dict[int, int], chosen: list[tuple[int, tuple[int, ...]]]) -> None:
        if i == len(locations):
            found.append(Mapping(algorithm, tuple(chosen)))
            return
        for layer, code in locations[i]:
            if used.get(layer, 0) & code:
                continue
            neurons = tuple(j for j in range(code.bit_length()) if (code >> j) & 1)
            walk(i + 1, {**used, layer: used.get(layer, 0) | code}, [*chosen, (layer, neurons)])

    walk(0, {}, [])
    return found
