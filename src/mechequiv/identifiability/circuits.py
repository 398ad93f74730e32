"""Where: exhaustive enumeration of circuits that reproduce a Boolean behaviour exactly.

A circuit keeps a subset of hidden neurons in every hidden layer and a set of edges between kept
neurons of consecutive layers (inputs and the output are always kept) such that every kept
receiving neuron has an incoming edge and every kept sending neuron, both inputs included, has an
outgoing edge. Removed neurons and edges are *ablated*: with ``ablation="zero"`` (the paper) their
contribution is zero, with ``ablation="mean"`` it is the sender's mean activation over the task
rows in the full network; biases of kept neurons are always kept. A circuit is accepted when its
output rounded to the nearest integer equals the 0/1 target on every task row (the reference's
``round(output) == label``; an output of 1.7 rounds to 2 and fails).

Enumeration is vectorised per node mask: a kept neuron's activation depends only on its own set of
parents, so for every neuron all ``2**p - 1`` parent sets are evaluated once and the valid edge
matrices are gathered from that table.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mechequiv.errors import MechequivError
from mechequiv.identifiability.network import MLPNet

_ABLATIONS = ("zero", "mean")
#: Default refusal threshold on the number of candidate circuits (roughly 10 s per 10**6 on one
#: core, plus the interpretation counts of the accepted ones).
MAX_CANDIDATES = 10**8
#: Rows of the (chunk, edge matrix, task row) output block evaluated at once.
_CHUNK_ELEMENTS = 1 << 22


@dataclass(frozen=True, eq=False)
class Circuit:
    """Kept hidden neurons per hidden layer and one boolean edge mask per weight matrix.

    ``edge_masks[l]`` has the shape of ``weights[l]`` of the single-output network; an edge
    ``(i, j)`` is kept when it runs from kept neuron ``j`` of layer ``l`` to kept neuron ``i`` of
    layer ``l + 1``.
    """

    hidden: tuple[tuple[int, ...], ...]
    edge_masks: tuple[np.ndarray, ...]

    @property
    def n_edges(self) -> int:
        return int(sum(m.sum() for m in self.edge_masks))

    def to_dict(self) -> dict[str, Any]:
        return {
            "hidden": [list(h) for h in self.hidden],
            "edges": [np.argwhere(m).tolist() for m in self.edge_masks],
        }

    def __repr__(self) -> str:
        return f"Circuit(hidden={[list(h) for h in self.hidden]}, edges={self.n_edges})"


def covering_matrices(p: int, q: int) -> int:
    """Number of ``q x p`` 0/1 matrices with no zero row and no zero column (inclusion-exclusion)."""
    return sum((-1) ** j * math.comb(p, j) * (2 ** (p - j) - 1) ** q for j in range(p + 1))


def _node_size_tuples(
    hidden_widths: Sequence[int], include_full: bool, min_node_sparsity: float | None
) -> Iterator[tuple[int, ...]]:
    total = sum(hidden_widths)
    for sizes in itertools.product(*(range(1, n + 1) for n in hidden_widths)):
        if not include_full and tuple(sizes) == tuple(hidden_widths):
            continue
        if min_node_sparsity is not None and not (total - sum(sizes)) / total > min_node_sparsity:
            continue
        yield sizes


def count_candidates(
    widths: Sequence[int],
    include_full: bool = False,
    min_node_sparsity: float | None = None,
) -> int:
    """Number of candidate circuits of a single-output MLP with layer sizes ``widths``.

    ``widths = (n_in, n_1, ..., n_L, 1)``. Counts node masks (at least one kept neuron per hidden
    layer; the full node set excluded unless ``include_full``; only masks removing a fraction of
    hidden neurons strictly above ``min_node_sparsity`` when given) times their valid edge sets.
    For ``(2, k, k, 1)`` this is 20, 3,000, 1,067,648, 1,247,432,400 for ``k = 2..5``.
    """
    hidden = list(widths[1:-1])
    total = 0
    for sizes in _node_size_tuples(hidden, include_full, min_node_sparsity):
        term = covering_matrices(widths[0], sizes[0])
        for n, s in zip(hidden, sizes, strict=True):
            term *= math.comb(n, s)
        for s_prev, s_next in itertools.pairwise(sizes):
            term *= covering_matrices(s_prev, s_next)
        total += term
    return total


def check_candidates(
    widths: Sequence[int],
    include_full: bool,
    min_node_sparsity: float | None,
    max_candidates: int,
    force: bool,
) -> int:
    """The candidate count, or :class:`MechequivError` when it exceeds ``max_candidates`` and
    not ``force``."""
    n_candidates = count_candidates(widths, include_full, min_node_sparsity)
    if n_candidates > max_candidates and not force:
        raise MechequivError(
            f"{n_candidates:,} candidate circuits for widths {tuple(widths)} exceed "
            f"max_candidates={max_candidates:,}; raise it, filter with min_node_sparsity, or "
            "pass force=True"
        )
    return n_candidates


@functools.lru_cache(maxsize=64)
def _edge_table(p: int, q: int) -> np.ndarray:
    """All valid parent-set tuples, shape ``(covering_matrices(p, q), q)``; entry = bitmask over
    the ``p`` kept senders (bit ``j`` set = edge from sender ``j``)."""
    codes = np.arange(1, 2**p, dtype=np.int64)
    full = 2**p - 1
    prefix = codes[:, None]
    for _ in range(q - 2):
        prefix = np.concatenate(
            [np.repeat(prefix, len(codes), axis=0), np.tile(codes, len(prefix))[:, None]], axis=1
        )
    if q == 1:
        result: np.ndarray = codes[codes == full][:, None].copy()
        return result
    union = np.bitwise_or.reduce(prefix, axis=1)
    blocks = []
    for u in np.unique(union):
        last = codes[(codes | u) == full]
        rows = prefix[union == u]
        blocks.append(
            np.concatenate(
                [np.repeat(rows, len(last), axis=0), np.tile(last, len(rows))[:, None]], axis=1
            )
        )
    table = np.concatenate(blocks, axis=0)
    table.setflags(write=False)
    return table


def ablation_means(net: MLPNet, x: np.ndarray, ablation: str) -> list[np.ndarray]:
    """Per layer (input first), the value that replaces an ablated neuron or edge."""
    if ablation not in _ABLATIONS:
        raise ValueError(f"ablation must be one of {_ABLATIONS}, got {ablation!r}")
    acts = net.forward(x)
    if ablation == "zero":
        return [np.zeros(a.shape[1]) for a in acts]
    return [a.mean(axis=0) for a in acts]


def circuit_activations(
    net: MLPNet, circuit: Circuit, x: np.ndarray, means: Sequence[np.ndarray]
) -> list[np.ndarray]:
    """Activations ``(m, n_l)`` of every layer when only ``circuit`` runs (single-output net).

    A kept neuron receives ``b_i + sum_j W_ij (h_j if edge kept else mean_j)``; columns of removed
    neurons hold their ablation value.
    """
    acts = [np.asarray(x, dtype=np.float64)]
    kept_layers = [*circuit.hidden, (0,)]
    for l, (w, b, act) in enumerate(zip(net.weights, net.biases, net.activations, strict=True)):
        mask = circuit.edge_masks[l]
        pre = acts[-1] @ (w * mask).T + b + means[l] @ (w * ~mask).T
        h = np.tile(means[l + 1], (len(x), 1))
        kept = list(kept_layers[l])
        h[:, kept] = act(pre[:, kept])
        acts.append(h)
    return acts


def _parent_tables(
    net: MLPNet,
    layer: int,
    A: np.ndarray,
    senders: Sequence[int],
    receivers: Sequence[int],
    means: Sequence[np.ndarray],
) -> np.ndarray:
    """Activations of each receiver for every parent set: ``(B, q, 2**p, m)``.

    ``A`` is ``(B, m, p)``, the senders' activations in ``B`` partial circuits.
    """
    p = len(senders)
    w = net.weights[layer][np.ix_(receivers, senders)]  # (q, p)
    member = ((np.arange(2**p)[:, None] >> np.arange(p)) & 1).astype(np.float64)  # (2**p, p)
    mu = means[layer]
    base = net.biases[layer][list(receivers)] + net.weights[layer][list(receivers)] @ mu
    shift = base[:, None] - np.einsum("cj,ij,j->ic", member, w, mu[list(senders)])  # (q, 2**p)
    pre = np.einsum("brj,cj,ij->bicr", A, member, w) + shift[None, :, :, None]
    return net.activations[layer](pre)


@dataclass(frozen=True)
class _Accepted:
    hidden: tuple[tuple[int, ...], ...]
    codes: tuple[np.ndarray, ...]  # per weight matrix: parent bitmask of each kept receiver


def _to_circuit(net: MLPNet, acc: _Accepted) -> Circuit:
    senders: Sequence[int] = range(net.widths[0])
    masks = []
    for l, receivers in enumerate([*acc.hidden, (0,)]):
        mask = np.zeros(net.weights[l].shape, dtype=bool)
        for i, code in zip(receivers, acc.codes[l], strict=True):
            for j, s in enumerate(senders):
                mask[i, s] = bool((int(code) >> j) & 1)
        masks.append(mask)
        senders = receivers
    return Circuit(acc.hidden, tuple(masks))


def _subsets(n: int) -> list[tuple[int, ...]]:
    return [tuple(i for i in range(n) if (s >> i) & 1) for s in range(1, 2**n)]


def find_circuits(
    net: MLPNet,
    x: np.ndarray,
    target: np.ndarray,
    *,
    ablation: str = "zero",
    include_full: bool = False,
    min_node_sparsity: float | None = None,
    max_candidates: int = MAX_CANDIDATES,
    force: bool = False,
) -> tuple[list[Circuit], int]:
    """Every circuit of a single-output ``net`` whose rounded output equals ``target`` on rows
    ``x``.

    Accepted iff ``rint(output) == target`` on every row. Returns the accepted circuits (in a
    deterministic order) and the number of candidates examined. Refuses with
    :class:`MechequivError` when the candidate count exceeds ``max_candidates``, unless ``force``.
    """
    widths = net.widths
    if widths[-1] != 1:
        raise ValueError(f"find_circuits needs a single-output network, got {widths[-1]} outputs")
    n_candidates = check_candidates(widths, include_full, min_node_sparsity, max_candidates, force)
    means = ablation_means(net, x, ablation)
    target = np.asarray(target, dtype=np.float64).ravel()
    hidden = list(widths[1:-1])
    n_layers = len(hidden)
    size_ok = {s: True for s in _node_size_tuples(hidden, include_full, min_node_sparsity)}
    w_out = net.weights[-1][0]
    accepted: list[_Accepted] = []

    def recurse(
        layer: int, A: np.ndarray, hist: list[np.ndarray], kept: list[tuple[int, ...]]
    ) -> None:
        senders = kept[-1] if kept else tuple(range(widths[0]))
        p = len(senders)
        for receivers in _subsets(hidden[layer]):
            sizes = (*(len(k) for k in kept), len(receivers))
            if layer == n_layers - 1 and sizes not in size_ok:
                continue
            q = len(receivers)
            table = _edge_table(p, q)
            H = _parent_tables(net, layer, A, senders, receivers, means)  # (B, q, 2**p, m)
            rows = np.arange(q)
            if layer < n_layers - 1:
                step = max(1, _CHUNK_ELEMENTS // max(1, len(table) * q * len(x)))
                for start in range(0, len(A), step):
                    Hc = H[start : start + step]
                    newA = Hc[:, rows[None, :], table, :]  # (Bc, f, q, m)
                    newA = newA.reshape(-1, q, len(x)).transpose(0, 2, 1)
                    idx = np.arange(start, start + len(Hc))
                    new_hist = [np.repeat(h[idx], len(table)) for h in hist]
                    new_hist.append(np.tile(np.arange(len(table)), len(Hc)))
                    recurse(layer + 1, newA, new_hist, [*kept, receivers])
                continue
            mu = means[-2]
            const = net.biases[-1][0] + w_out @ mu - w_out[list(receivers)] @ mu[list(receivers)]
            U = H * w_out[list(receivers)][None, :, None, None]
            step = max(1, _CHUNK_ELEMENTS // max(1, len(table) * len(x)))
            for start in range(0, len(A), step):
                Uc = U[start : start + step]
                pre = np.full((len(Uc), len(table), len(x)), const)
                for i in range(q):
                    pre += Uc[:, i, table[:, i], :]
                ok = (np.rint(net.activations[-1](pre)) == target).all(axis=2)
                for b, e in zip(*np.nonzero(ok), strict=True):
                    g = start + b
                    codes = [
                        _edge_table(len(s), len(r))[h[g]]
                        for s, r, h in zip(
                            [tuple(range(widths[0])), *kept][: len(kept)], kept, hist, strict=True
                        )
                    ]
                    codes.append(table[e])
                    codes.append(np.array([2**q - 1]))
                    accepted.append(_Accepted((*kept, receivers), tuple(codes)))

    recurse(0, np.asarray(x, dtype=np.float64)[None], [], [])
    return [_to_circuit(net, a) for a in accepted], n_candidates
