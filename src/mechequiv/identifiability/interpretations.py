"""What: count logic-gate interpretations of a circuit without materialising them.

Conventions (those of Méloux et al.'s code):

* A kept neuron is binarised by a threshold at any midpoint between two consecutive distinct
  sorted activation values over the task rows (so ``d`` distinct values give ``d - 1`` truth
  tables). The output neuron is binarised the same way after rounding to the nearest integer,
  which for an accepted circuit leaves exactly the target's truth table.
* A neuron that is constant over the task rows has no binarisation; as in the reference code it
  is left out of the interpretation: it gets no gate and is not counted as anyone's parent (a
  neuron whose parents are all constant then has no consistent gate).
* A first-layer neuron's gate is its truth table over the inputs: one gate per binarisation.
* A deeper neuron (the output included) with parents ``P`` (kept neurons of the previous layer
  joined by kept edges) must have bits that are a function of its parents' bits; every completion
  of the local truth table on parent patterns never observed counts as a distinct gate, except
  that a two-parent neuron may not be XOR or XNOR.
* ``completions="none"`` instead counts a local gate only by its values on the observed
  parent patterns (one gate per consistent binarisation choice, unless every completion is
  XOR/XNOR): the count of consistent threshold assignments, without the don't-care inflation.
* The number of interpretations is the number of consistent (binarisation, gate) choices for all
  kept neurons. It factorises layer by layer, so it is computed as a product of small transfer
  matrices over the joint binarisations of one layer (a dynamic programme), never enumerated.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Sequence

import numpy as np

from mechequiv.identifiability.circuits import Circuit, circuit_activations
from mechequiv.identifiability.network import MLPNet

_EXACT_FLOAT = 2.0**53
COMPLETIONS = ("all", "none")


def binarizations(values: np.ndarray) -> tuple[int, ...]:
    """Truth tables (bit ``r`` = row ``r`` above the threshold) of every midpoint threshold."""
    vals = values.tolist()
    distinct = sorted(set(vals))
    return tuple(
        sum(1 << r for r, v in enumerate(vals) if v > (lo + hi) / 2)
        for lo, hi in itertools.pairwise(distinct)
    )


def _local_counts(
    parent_codes: np.ndarray, own_codes: tuple[int, ...], m: int
) -> tuple[np.ndarray, np.ndarray]:
    """Free pattern counts and banned-gate counts for every parent state and own code.

    ``parent_codes[s]`` ``(S, a)`` are the parents' truth tables in joint state ``s``. Returns
    ``free`` ``(S, O)`` (``-1`` where inconsistent) and ``banned`` ``(S, O)`` (the XOR/XNOR
    completions of a two-parent neuron).
    """
    n_par = parent_codes.shape[1]
    rows = np.arange(m)
    pbits = (parent_codes[:, :, None] >> rows) & 1  # (S, a, m)
    pattern = (pbits << np.arange(n_par)[None, :, None]).sum(axis=1)  # (S, m)
    own = (np.asarray(own_codes, dtype=np.int64)[:, None] >> rows) & 1  # (O, m)
    same = pattern[:, :, None] == pattern[:, None, :]  # (S, m, m)
    differ = own[:, :, None] != own[:, None, :]  # (O, m, m)
    conflict = np.einsum("srt,ort->so", same.astype(np.int64), differ.astype(np.int64)) > 0
    earlier = np.triu(np.ones((m, m), dtype=bool), 1)
    repeats = (same & earlier[None]).any(axis=1).sum(axis=1)  # rows repeating an earlier pattern
    free = np.broadcast_to((2**n_par - (m - repeats))[:, None], conflict.shape)
    free = np.where(conflict, -1, free)
    banned = np.zeros_like(free)
    if n_par == 2:
        parity = pbits.sum(axis=1) & 1  # (S, m)
        xor = (own[None, :, :] == parity[:, None, :]).all(axis=2)
        xnor = (own[None, :, :] != parity[:, None, :]).all(axis=2)
        banned = xor.astype(np.int64) + xnor.astype(np.int64)
    return free, banned


@functools.lru_cache(maxsize=1 << 15)
def _factor(
    prev_options: tuple[tuple[int, ...], ...],
    par: tuple[int, ...],
    own: tuple[int, ...],
    m: int,
    exact: bool,
    completions: str,
) -> np.ndarray:
    """Number of local gates ``(S_prev, O)`` of a neuron with options ``own`` and parents at
    positions ``par`` of the previous layer (whose joint states come from ``prev_options``)."""
    prev_codes = _joint_states(prev_options)[0]
    free, banned = _local_counts(prev_codes[:, list(par)], own, m)
    if completions == "none":  # one gate unless inconsistent or every completion is banned
        allowed = (free > 0) | ((free == 0) & (banned == 0))
        result: np.ndarray = allowed.astype(object if exact else np.float64)
        return result
    if exact:
        out = np.empty(free.shape, dtype=object)
        for idx, f in np.ndenumerate(free):
            out[idx] = 0 if f < 0 else (1 << int(f)) - int(banned[idx])
        return out
    return np.where(free < 0, 0.0, np.ldexp(1.0, np.maximum(free, 0)) - banned)


@functools.lru_cache(maxsize=1 << 12)
def _joint_states(options: tuple[tuple[int, ...], ...]) -> tuple[np.ndarray, np.ndarray]:
    """Codes ``(S, q)`` and option indices ``(S, q)`` of every joint binarisation of a layer."""
    if not options:
        return np.zeros((1, 0), dtype=np.int64), np.zeros((1, 0), dtype=np.int64)
    index = np.array(list(itertools.product(*[range(len(o)) for o in options])), dtype=np.int64)
    codes = np.stack(
        [np.asarray(o, dtype=np.int64)[index[:, i]] for i, o in enumerate(options)], axis=1
    )
    return codes, index


def _count(
    layers: Sequence[tuple[tuple[int, ...], ...]],
    parents: Sequence[Sequence[tuple[int, ...]]],
    m: int,
    exact: bool,
    completions: str,
) -> tuple[float, float]:  # Python ints (exact object arithmetic) or floats
    """DP over layers; ``layers[l][i]`` are the options of kept neuron ``i`` of hidden layer
    ``l`` (the last entry: the output), ``parents[l][i]`` its parents' positions in layer
    ``l - 1`` (unused for ``l = 0``). Returns the total and the largest partial count, which
    tells whether float64 arithmetic was exact (all partial counts below 2**53)."""
    n_first = len(_joint_states(layers[0])[0])
    value = np.ones(n_first, dtype=object if exact else np.float64)
    largest = 1
    for l in range(1, len(layers)):
        index = _joint_states(layers[l])[1]
        transfer = np.ones((len(value), len(index)), dtype=value.dtype)
        for i, own in enumerate(layers[l]):
            factor = _factor(layers[l - 1], parents[l][i], own, m, exact, completions)
            transfer = transfer * factor[:, index[:, i]]
        value = value @ transfer
        largest = max(largest, value.max(initial=0))
    return value.sum(), largest


def count_interpretations(
    net: MLPNet,
    circuit: Circuit,
    x: np.ndarray,
    means: Sequence[np.ndarray],
    completions: str = "all",
) -> int:
    """Number of interpretations of ``circuit`` of a single-output ``net`` on rows ``x``.

    ``means`` are the ablation values from :func:`~.circuits.ablation_means`; ``completions``
    is ``"all"`` (the paper: every completion of a local truth table is a distinct gate) or
    ``"none"`` (see the module docstring). Exact (Python integers) whatever the size.
    """
    if completions not in COMPLETIONS:
        raise ValueError(f"completions must be one of {COMPLETIONS}, got {completions!r}")
    acts = circuit_activations(net, circuit, x, means)
    m = len(x)
    layers: list[tuple[tuple[int, ...], ...]] = []
    parents: list[list[tuple[int, ...]]] = []
    prev: dict[int, int] = {}  # neuron index -> position among the previous layer's options
    last = len(circuit.hidden)
    for l, kept in enumerate([*circuit.hidden, (0,)]):
        values = np.rint(acts[-1]) if l == last else acts[l + 1]
        mask = circuit.edge_masks[l]
        opts: list[tuple[int, ...]] = []
        pars: list[tuple[int, ...]] = []
        here: dict[int, int] = {}
        for i in kept:
            o = binarizations(values[:, i])
            if not o:
                continue
            here[i] = len(opts)
            opts.append(o)
            pars.append(tuple(pos for j, pos in prev.items() if mask[i, j]))
        layers.append(tuple(opts))
        parents.append(pars)
        prev = here
    if not layers[-1]:
        return 0
    # log2 bound on any partial count; float64 would overflow far beyond 2**53 anyway
    bound = sum(2 * len(pars) + sum(2 ** len(p) for p in pars) for pars in parents)
    if bound < 900:
        total, largest = _count(layers, parents, m, False, completions)
        if largest < _EXACT_FLOAT:
            return int(total)
    return int(_count(layers, parents, m, True, completions)[0])
