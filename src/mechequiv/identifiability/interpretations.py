"""What: count logic-gate interpretations of a circuit without materialising them.

Conventions (those of Méloux et al.'s code):

* A kept hidden neuron is binarised by a threshold at any midpoint between two consecutive
  distinct sorted activation values over the task rows (so ``d`` distinct values give ``d - 1``
  truth tables; a constant neuron has none, and its circuit no interpretation). The output
  neuron's bits are its thresholded output.
* A first-layer neuron's gate is its truth table over the inputs: one gate per binarisation.
* A deeper neuron (the output included) with parents ``P`` (kept neurons of the previous layer
  joined by kept edges) must have bits that are a function of its parents' bits; every completion
  of the local truth table on parent patterns never observed counts as a distinct gate, except
  that a two-parent neuron may not be XOR or XNOR.
* The number of interpretations is the number of consistent (binarisation, gate) choices for all
  kept neurons. It factorises layer by layer, so it is computed as a product of small transfer
  matrices over the joint binarisations of one layer (a dynamic programme), never enumerated.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np

from mechequiv.identifiability.circuits import Circuit, circuit_activations
from mechequiv.identifiability.network import MLPNet

_EXACT_FLOAT = 2.0**53


def binarizations(values: np.ndarray) -> tuple[int, ...]:
    """Truth tables (bit ``r`` = row ``r`` above the threshold) of every midpoint threshold."""
    distinct = np.unique(values)
    mids = (distinct[:-1] + distinct[1:]) / 2
    weights = 1 << np.arange(len(values), dtype=np.int64)
    return tuple(int(((values > t) * weights).sum()) for t in mids)


@functools.lru_cache(maxsize=1 << 16)
def _local_counts(
    parent_codes: tuple[tuple[int, ...], ...], own_codes: tuple[int, ...], m: int
) -> tuple[np.ndarray, np.ndarray]:
    """Free pattern counts and banned-gate counts for every parent state and own code.

    ``parent_codes[s]`` are the parents' truth tables in joint state ``s``. Returns ``free``
    ``(S, O)`` (``-1`` where inconsistent) and ``banned`` ``(S, O)`` (XOR/XNOR completions).
    """
    n_par = len(parent_codes[0])
    pc = np.asarray(parent_codes, dtype=np.int64)  # (S, a)
    rows = np.arange(m)
    pbits = (pc[:, :, None] >> rows) & 1  # (S, a, m)
    pattern = (pbits << np.arange(n_par)[None, :, None]).sum(axis=1)  # (S, m)
    own = (np.asarray(own_codes, dtype=np.int64)[:, None] >> rows) & 1  # (O, m)
    same = pattern[:, :, None] == pattern[:, None, :]  # (S, m, m)
    differ = own[:, :, None] != own[:, None, :]  # (O, m, m)
    conflict = np.einsum("srt,ort->so", same.astype(np.int64), differ.astype(np.int64)) > 0
    earlier = np.triu(np.ones((m, m), dtype=bool), 1)
    repeats = (same & earlier[None]).any(axis=1).sum(axis=1)  # rows repeating an earlier pattern
    free = (2**n_par - (m - repeats))[:, None] * np.ones(len(own_codes), dtype=np.int64)
    free = np.where(conflict, -1, free)
    banned = np.zeros_like(free)
    if n_par == 2:
        parity = pbits.sum(axis=1) & 1  # (S, m)
        xor = (own[None, :, :] == parity[:, None, :]).all(axis=2)
        xnor = (own[None, :, :] != parity[:, None, :]).all(axis=2)
        banned = xor.astype(np.int64) + xnor.astype(np.int64)
    return free, banned


def _factor(free: np.ndarray, banned: np.ndarray, exact: bool) -> np.ndarray:
    if exact:
        out = np.empty(free.shape, dtype=object)
        for idx, f in np.ndenumerate(free):
            out[idx] = 0 if f < 0 else (1 << int(f)) - int(banned[idx])
        return out
    return np.where(free < 0, 0.0, np.ldexp(1.0, np.maximum(free, 0)) - banned)


def _joint_states(options: Sequence[tuple[int, ...]]) -> tuple[np.ndarray, np.ndarray]:
    """Codes ``(S, q)`` and option indices ``(S, q)`` of every joint binarisation of a layer."""
    grids = np.meshgrid(*[np.arange(len(o)) for o in options], indexing="ij")
    index = np.stack([g.ravel() for g in grids], axis=1)
    codes = np.stack([np.asarray(o, dtype=np.int64)[index[:, i]] for i, o in enumerate(options)],
                     axis=1)
    return codes, index


def _count(
    layers: Sequence[Sequence[tuple[int, ...]]],
    parents: Sequence[Sequence[tuple[int, ...]]],
    m: int,
    exact: bool,
):
    """DP over layers; ``layers[l][i]`` are the options of kept neuron ``i`` of hidden layer
    ``l`` (the last entry: the output), ``parents[l][i]`` its parents' positions in layer
    ``l - 1`` (unused for ``l = 0``)."""
    prev_codes, _ = _joint_states(layers[0])
    value = np.ones(len(prev_codes), dtype=object if exact else np.float64)
    for l in range(1, len(layers)):
        codes, index = _joint_states(layers[l])
        transfer = np.ones((len(prev_codes), len(codes)), dtype=value.dtype)
        for i, own in enumerate(layers[l]):
            par = list(parents[l][i])
            sub = prev_codes[:, par]
            uniq, inverse = np.unique(sub, axis=0, return_inverse=True)
            free, banned = _local_counts(tuple(map(tuple, uniq.tolist())), tuple(own), m)
            factor = _factor(free, banned, exact)[inverse.ravel()]  # (S_prev, O)
            transfer = transfer * factor[:, index[:, i]]
        value = value @ transfer
        prev_codes = codes
    return value.sum()


def count_interpretations(
    net: MLPNet,
    circuit: Circuit,
    x: np.ndarray,
    means: Sequence[np.ndarray],
    threshold: float = 0.5,
) -> int:
    """Number of interpretations of ``circuit`` of a single-output ``net`` on rows ``x``.

    ``means`` are the ablation values from :func:`~.circuits.ablation_means`.
    """
    acts = circuit_activations(net, circuit, x, means)
    m = len(x)
    layers: list[list[tuple[int, ...]]] = []
    parents: list[list[tuple[int, ...]]] = []
    prev: tuple[int, ...] = ()
    for l, kept in enumerate([*circuit.hidden, (0,)]):
        if l == len(circuit.hidden):
            bits = acts[-1][:, 0] > threshold
            opts = [(int((bits * (1 << np.arange(m))).sum()),)]
        else:
            opts = [binarizations(acts[l + 1][:, i]) for i in kept]
        if any(len(o) == 0 for o in opts):
            return 0
        mask = circuit.edge_masks[l]
        parents.append([tuple(j for j, s in enumerate(prev) if mask[i, s]) for i in kept])
        layers.append(opts)
        prev = kept
    total = _count(layers, parents, m, exact=False)
    if total < _EXACT_FLOAT:
        return int(total)
    return int(_count(layers, parents, m, exact=True))
