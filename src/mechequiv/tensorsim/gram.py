"""Exact inner products of two tensor networks by the layer-by-layer Gram recursion.

The composed tensor of a chain is a tree: each bilinear layer copies its input into two legs.
Contracting tree ``a`` against tree ``b`` with input leg ``m`` of ``a`` paired to leg ``m`` of
``b`` factorises layer by layer into a cross-Gram matrix ``G`` between the two models' padded
activations (``G_0 = I``):

* linear layer ``W``:       ``G <- W_a G W_b^T``
* bilinear layer (L, R, D): with ``K_XY = X_a G Y_b^T``,
  ``symmetrize="layer"``:   ``G <- D_a [ (K_LL o K_RR + K_LR o K_RL) / 2 ] D_b^T``
  ``symmetrize="none"``:    ``G <- D_a [ K_LL o K_RR ] D_b^T``

A bilinear step is computed by whichever of two exact groupings is cheaper: over the hidden
units as above (``~h_a h_b m`` multiply-adds for input width ``m``), or through each output
coordinate's interaction matrix ``M_i = sum_u D[i, u] sym(l_u r_u^T)`` (``l_u r_u^T`` for
"none"), ``G <- [<M^a_i, G M^b_j G^T>]_ij`` (``~m^4`` per pair with ``M`` formed once per layer,
``m_out h m^2``, and kept while the layer lives): the cost then does not grow with the hidden
width.

"layer" is the inner product of the trees after symmetrising *each bilinear layer* in its two
input legs (the per-layer interaction matrices); it is not in general the inner product of the
fully symmetrised polynomial tensors (see :mod:`mechequiv.tensorsim.expand`). ``diag(G)[1:]`` holds
one inner product per output coordinate (the per-class slices), ``tr G[1:, 1:]`` the total.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch

from mechequiv.tensorsim.network import BilinearOp, LinearOp, TensorNet


class _GramOp(Protocol):
    """A layer that carries its own Gram step (the sequence ops of :mod:`.attention`)."""

    @property
    def degree(self) -> int: ...

    def gram(self, other: Any, G: torch.Tensor, sym: bool) -> torch.Tensor: ...


class _GramChain(Protocol):
    """What the recursion needs of a network: a :class:`TensorNet` or a sequence net."""

    @property
    def ops(self) -> Sequence[LinearOp | BilinearOp | _GramOp]: ...

    def initial_gram(self) -> torch.Tensor | None: ...

    def slices(self, G: torch.Tensor) -> np.ndarray: ...


__all__ = [
    "GramInner",
    "SelfGram",
    "cross_diag",
    "gram_inner",
    "interaction_forms",
    "self_gram",
]


@dataclass(frozen=True)
class GramInner:
    """Per-output inner products, each scaled: true value = value * exp(log_scale)."""

    ab: np.ndarray
    aa: np.ndarray
    bb: np.ndarray
    log_scale_a: float
    log_scale_b: float

    def true(self, which: str) -> np.ndarray:
        """Unscaled per-output inner products, ``which`` in {"ab", "aa", "bb"} (inf on overflow)."""
        log = {
            "ab": 0.5 * (self.log_scale_a + self.log_scale_b),
            "aa": self.log_scale_a,
            "bb": self.log_scale_b,
        }[which]
        with np.errstate(over="ignore"):
            result: np.ndarray = getattr(self, which) * np.exp(log)
            return result


INTERACTION_ENTRIES = 2**22  # the largest interaction forms (m_out m_in^2, 32 MiB) formed and kept
_INTERACTIONS: weakref.WeakKeyDictionary[BilinearOp, dict[bool, torch.Tensor]] = (
    weakref.WeakKeyDictionary()
)


def interaction_forms(op: BilinearOp, sym: bool) -> torch.Tensor:
    """(d_out + 1, d_in + 1, d_in + 1): ``M_i = sum_u D[i, u] l_u r_u^T`` per output coordinate
    of a bilinear layer, symmetrised if ``sym``; kept while ``op`` lives."""
    kept = _INTERACTIONS.setdefault(op, {})
    if sym not in kept:
        h, m = op.L.shape
        M = op.L.new_zeros((op.D.shape[0], m * m))
        step = max(1, 2**23 // max(1, m * m))
        for lo in range(0, h, step):  # one GEMM over the units, in chunks of (units, m^2)
            sl = slice(lo, lo + step)
            M += op.D[:, sl] @ (op.L[sl, :, None] * op.R[sl, None, :]).reshape(-1, m * m)
        M = M.view(-1, m, m)
        kept[sym] = 0.5 * (M + M.transpose(1, 2)) if sym else M
    return kept[sym]


def _forms_cheaper(op_a: BilinearOp, op_b: BilinearOp, G: torch.Tensor | None) -> bool:
    """Whether the interaction-matrix grouping of a bilinear step costs fewer multiply-adds
    than the sum over both layers' units (forming uncached interaction forms included)."""
    (h_a, m_a), (h_b, m_b) = op_a.L.shape, op_b.L.shape
    o_a, o_b = op_a.D.shape[0], op_b.D.shape[0]
    if max(o_a * m_a * m_a, o_b * m_b * m_b) > INTERACTION_ENTRIES:
        return False
    units = 3 * h_a * h_b * (m_a if G is None else m_a + m_b) + o_a * h_a * h_b + o_a * o_b * h_b
    forms = o_b * m_a * m_b * (m_a + m_b) + o_a * o_b * m_a * m_a
    for op, h, m, o in ((op_a, h_a, m_a, o_a), (op_b, h_b, m_b, o_b)):
        if op not in _INTERACTIONS:
            forms += o * h * m * m
    return forms < units


def _update(
    op_a: LinearOp | BilinearOp,
    op_b: LinearOp | BilinearOp,
    G: torch.Tensor | None,
    sym: bool,
    same: bool,
) -> torch.Tensor:
    """One layer of the recursion; ``G is None`` stands for the identity (the input metric),
    ``same`` for a self-recursion (G symmetric, so ``K_RL = K_LR^T``)."""

    def left(M: torch.Tensor) -> torch.Tensor:
        return M if G is None else M @ G

    if isinstance(op_a, LinearOp):
        assert isinstance(op_b, LinearOp)  # paired layer by layer (_check_pairable)
        return left(op_a.W) @ op_b.W.T
    assert isinstance(op_b, BilinearOp)
    sel_b = op_b.selections()
    if sel_b is not None and not same:
        # A skip op's units read single coordinates: products with it are column gathers.
        La, Ra = left(op_a.L), left(op_a.R)
        sL, sR = sel_b
        K = La[:, sL] * Ra[:, sR]
        if sym:
            K = 0.5 * (K + La[:, sR] * Ra[:, sL])
        return op_a.D @ K @ op_b.D.T
    if _forms_cheaper(op_a, op_b, G):
        Ma, Mb = interaction_forms(op_a, sym), interaction_forms(op_b, sym)
        X = Mb if G is None else G @ Mb @ G.T  # (o_b, m_a, m_a): G M^b_j G^T
        return Ma.flatten(1) @ X.flatten(1).T
    La, Ra = left(op_a.L), left(op_a.R)
    Lb, Rb = op_b.L, op_b.R
    K = (La @ Lb.T) * (Ra @ Rb.T)
    if sym:
        LR = La @ Rb.T
        K = 0.5 * (K + LR * (LR.T if same else Ra @ Lb.T))
    return op_a.D @ K @ op_b.D.T


@dataclass(frozen=True)
class SelfGram:
    """One model's self-recursion: per-layer rescaling factors, per-output squared norms
    (scaled), and the log of the total scale (true = diag * exp(log_scale))."""

    alphas: tuple[float, ...]
    diag: np.ndarray
    log_scale: float


def _step(
    op_a: LinearOp | BilinearOp | _GramOp,
    op_b: LinearOp | BilinearOp | _GramOp,
    G: torch.Tensor | None,
    sym: bool,
    same: bool,
) -> torch.Tensor:
    """Linear and bilinear layers here; other layers (attention) carry their own ``gram``."""
    if isinstance(op_a, LinearOp | BilinearOp):
        assert isinstance(op_b, LinearOp | BilinearOp)  # paired layer by layer
        return _update(op_a, op_b, G, sym, same)
    assert G is not None  # sequence nets start from an explicit metric
    result: torch.Tensor = op_a.gram(op_b, G, sym)
    return result


def self_gram(net: _GramChain, symmetrize: str = "layer") -> SelfGram:
    """Run the recursion on (net, net), dividing by ``alpha`` (largest absolute entry) after
    every layer; the values otherwise grow like a power tower with depth.

    ``net``: a :class:`TensorNet` or any chain with ``ops`` (each with a ``degree``),
    ``initial_gram()`` and ``slices(G)`` (the sequence nets of
    :mod:`mechequiv.tensorsim.attention`)."""
    sym = symmetrize == "layer"
    G, log, alphas = net.initial_gram(), 0.0, []
    for op in net.ops:
        log *= op.degree
        G = _step(op, op, G, sym, same=True)
        # A zero model keeps scale 1 (its Grams stay zero); the caller reports it.
        alpha = float(G.abs().max()) or 1.0
        G, log = G / alpha, log + math.log(alpha)
        alphas.append(alpha)
    assert G is not None  # set by the first layer (both network builders refuse no layers)
    return SelfGram(tuple(alphas), net.slices(G), log)


def cross_diag(
    a: _GramChain, b: _GramChain, sa: SelfGram, sb: SelfGram, symmetrize: str = "layer"
) -> np.ndarray:
    """Per-output cross inner products, scaled by ``exp(-(sa.log_scale + sb.log_scale) / 2)``:
    the cross-Gram is divided by ``sqrt(alpha_a alpha_b)`` after every layer, which cancels in
    every cosine formed with ``sa.diag`` and ``sb.diag``."""
    _check_pairable(a, b)
    sym = symmetrize == "layer"
    G = a.initial_gram()
    for op_a, op_b, alpha_a, alpha_b in zip(a.ops, b.ops, sa.alphas, sb.alphas, strict=True):
        G = _step(op_a, op_b, G, sym, same=False) / math.sqrt(alpha_a * alpha_b)
    assert G is not None  # set by the first layer (both network builders refuse no layers)
    return a.slices(G)


def _check_pairable(a: _GramChain, b: _GramChain) -> None:
    if len(a.ops) != len(b.ops) or any(
        type(x) is not type(y) for x, y in zip(a.ops, b.ops, strict=True)
    ):
        raise ValueError(
            "the two models must have the same sequence of layer kinds; got "
            f"{[type(o).__name__ for o in a.ops]} and {[type(o).__name__ for o in b.ops]}"
        )


def gram_inner(a: TensorNet, b: TensorNet, symmetrize: str = "layer") -> GramInner:
    """Run the recursion on (a, b), (a, a), (b, b), rescaled as in :func:`self_gram`."""
    _check_pairable(a, b)
    sa, sb = self_gram(a, symmetrize), self_gram(b, symmetrize)
    return GramInner(
        cross_diag(a, b, sa, sb, symmetrize), sa.diag, sb.diag, sa.log_scale, sb.log_scale
    )
