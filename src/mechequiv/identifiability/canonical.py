"""Canonical forms of layered circuits up to relabelling of hidden neurons.

A *layered circuit* has fixed input nodes ``0..n_inputs-1``, then one list of nodes per layer
(hidden layers, the output layer last); each node carries an integer label (a truth table, or 0
when only the structure matters) and the positions of its parents in the previous layer (or the
input indices for the first layer). Two layered circuits are *isomorphic* when a permutation of
the nodes within each hidden and output layer (inputs stay fixed) maps labels and edges onto each
other. :func:`canonical_form` returns a tuple that is equal for two circuits exactly when they are
isomorphic.

Method: every node gets an isomorphism-invariant signature (its label with the signatures of its
ancestors unfolded upwards and of its descendants unfolded downwards); nodes are sorted by it
within their layer, and the canonical form is the smallest encoding
``(label, sorted parent positions)`` per node over all orderings that agree with that sort. Nodes
with equal signatures that are *twins* (same label, parents and children) are interchangeable (a
swap is an automorphism and leaves the encoding unchanged), so only orderings of non-twin ties are
tried; for the small circuits audited here ties are rare and tiny.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

from mechequiv.errors import MechequivError

#: Largest number of tie-breaking orderings tried for one circuit.
MAX_ORDERINGS = 1 << 16

Layers = Sequence[Sequence[int]]
Parents = Sequence[Sequence[tuple[int, ...]]]


def _signatures(n_inputs: int, labels: Layers, parents: Parents) -> list[list[tuple[Any, ...]]]:
    up: list[list[tuple[Any, ...]]] = [[("in", j) for j in range(n_inputs)]]
    for l, layer in enumerate(labels):
        up.append(
            [(lab, tuple(sorted(up[l][p] for p in parents[l][i]))) for i, lab in enumerate(layer)]
        )
    children: list[list[list[int]]] = [[[] for _ in layer] for layer in labels]
    for l in range(1, len(labels)):
        for i, pars in enumerate(parents[l]):
            for p in pars:
                children[l - 1][p].append(i)
    down: list[list[tuple[Any, ...]]] = [[] for _ in labels]
    for l in range(len(labels) - 1, -1, -1):
        down[l] = [
            (lab, tuple(sorted(down[l + 1][c] for c in children[l][i])) if l + 1 < len(labels)
             else ())
            for i, lab in enumerate(labels[l])
        ]  # fmt: skip
    return [[(up[l + 1][i], down[l][i]) for i in range(len(labels[l]))] for l in range(len(labels))]


def _children_sets(labels: Layers, parents: Parents) -> list[list[frozenset[int]]]:
    out: list[list[set[int]]] = [[set() for _ in layer] for layer in labels]
    for l in range(1, len(labels)):
        for i, pars in enumerate(parents[l]):
            for p in pars:
                out[l - 1][p].add(i)
    return [[frozenset(s) for s in layer] for layer in out]


def _layer_orderings(
    sig: list[tuple[Any, ...]],
    labels: Sequence[int],
    pars: Sequence[tuple[int, ...]],
    kids: list[frozenset[int]],
) -> list[list[int]]:
    """Every ordering of one layer's nodes sorted by signature, non-twin ties permuted."""
    order = sorted(range(len(sig)), key=lambda i: sig[i])
    groups = [list(g) for _, g in itertools.groupby(order, key=lambda i: sig[i])]
    per_group: list[list[tuple[int, ...]]] = []
    for g in groups:
        twin = {i: (labels[i], frozenset(pars[i]), kids[i]) for i in g}
        if len(set(twin.values())) == 1:
            per_group.append([tuple(g)])
            continue
        seen, perms = set(), []
        for perm in itertools.permutations(g):
            cls = tuple(twin[i] for i in perm)
            if cls not in seen:  # orderings differing by twin swaps give the same encoding
                seen.add(cls)
                perms.append(perm)
        per_group.append(perms)
    return [[i for part in combo for i in part] for combo in itertools.product(*per_group)]


def _greedy_form(n_inputs: int, labels: Layers, parents: Parents) -> tuple[Any, ...] | None:
    """The encoding when sorting each layer by ``(label, parent positions)`` leaves no tie.

    Parent positions are canonical once the previous layer's order is, so the order (and hence
    the encoding) is then determined by isomorphism-invariant data; isomorphic circuits take
    this path together, and the encoding describes the circuit completely whichever path made
    it. ``None`` when some layer has a tie.
    """
    pos_prev: Sequence[int] = range(n_inputs)
    enc = []
    for l, layer in enumerate(labels):
        entries = [
            (lab, tuple(sorted([pos_prev[p] for p in parents[l][i]])))
            for i, lab in enumerate(layer)
        ]
        order = sorted(range(len(entries)), key=entries.__getitem__)
        for r in range(1, len(order)):
            if entries[order[r]] == entries[order[r - 1]]:
                return None
        enc.append(tuple(entries[i] for i in order))
        pos = [0] * len(order)
        for rank, i in enumerate(order):
            pos[i] = rank
        pos_prev = pos
    return (n_inputs, tuple(enc))


def canonical_form(n_inputs: int, labels: Layers, parents: Parents) -> tuple[Any, ...]:
    """Canonical encoding of a layered circuit (see the module docstring).

    ``labels[l][i]`` is the integer label of node ``i`` of layer ``l``; ``parents[l][i]`` the
    indices of its parents in layer ``l - 1`` (input indices for ``l = 0``).
    """
    if len(labels) != len(parents) or any(
        len(a) != len(b) for a, b in zip(labels, parents, strict=True)
    ):
        raise ValueError("labels and parents must have the same layer and node counts")
    fast = _greedy_form(n_inputs, labels, parents)
    if fast is not None:
        return fast
    sigs = _signatures(n_inputs, labels, parents)
    kids = _children_sets(labels, parents)
    options = [
        _layer_orderings(sigs[l], labels[l], parents[l], kids[l]) for l in range(len(labels))
    ]
    total = 1
    for o in options:
        total *= len(o)
    if total > MAX_ORDERINGS:
        raise MechequivError(
            f"canonical form needs {total:,} tie-breaking orderings (> {MAX_ORDERINGS:,}); the "
            "circuit is too symmetric for this exact method"
        )
    best: tuple[Any, ...] | None = None
    for combo in itertools.product(*options):
        pos_prev = list(range(n_inputs))
        enc = []
        for l, order in enumerate(combo):
            enc.append(
                tuple(
                    (labels[l][i], tuple(sorted(pos_prev[p] for p in parents[l][i]))) for i in order
                )
            )
            pos = [0] * len(order)
            for rank, i in enumerate(order):
                pos[i] = rank
            pos_prev = pos
        key = (n_inputs, tuple(enc))
        if best is None or key < best:
            best = key
    assert best is not None
    return best
