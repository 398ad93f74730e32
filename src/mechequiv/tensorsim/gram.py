"""Exact inner products of two tensor networks by the layer-by-layer Gram recursion.

The composed tensor of a chain is a tree: each bilinear layer copies its input into two legs.
Contracting tree ``a`` against tree ``b`` with input leg ``m`` of ``a`` paired to leg ``m`` of
``b`` factorises layer by layer into a cross-Gram matrix ``G`` between the two models' padded
activations (``G_0 = I``):

* linear layer ``W``:       ``G <- W_a G W_b^T``
* bilinear layer (L, R, D): with ``K_XY = X_a G Y_b^T``,
  ``symmetrize="layer"``:   ``G <- D_a [ (K_LL o K_RR + K_LR o K_RL) / 2 ] D_b^T``
  ``symmetrize="none"``:    ``G <- D_a [ K_LL o K_RR ] D_b^T``

"layer" is the inner product of the trees after symmetrising *each bilinear layer* in its two
input legs (the per-layer interaction matrices); it is not in general the inner product of the
fully symmetrised polynomial tensors (see :mod:`mechequiv.tensorsim.expand`). ``diag(G)[1:]`` holds
one inner product per output coordinate (the per-class slices), ``tr G[1:, 1:]`` the total.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from mechequiv.tensorsim.network import BilinearOp, LinearOp, TensorNet

__all__ = ["GramInner", "gram_inner"]


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
            return getattr(self, which) * np.exp(log)


def _update(op_a: LinearOp | BilinearOp, op_b: LinearOp | BilinearOp, G: np.ndarray, sym: bool):
    if isinstance(op_a, LinearOp):
        return op_a.W @ G @ op_b.W.T
    La, Ra, Lb, Rb = op_a.L @ G, op_a.R @ G, op_b.L, op_b.R
    K = (La @ Lb.T) * (Ra @ Rb.T)
    if sym:
        K = 0.5 * (K + (La @ Rb.T) * (Ra @ Lb.T))
    return op_a.D @ K @ op_b.D.T


def gram_inner(a: TensorNet, b: TensorNet, symmetrize: str = "layer") -> GramInner:
    """Run the recursion on (a, b), (a, a), (b, b) together, rescaling each step.

    The three Grams are divided by ``alpha_a``, ``sqrt(alpha_a alpha_b)``, ``alpha_b`` after
    every layer (``alpha`` = largest absolute entry of the self-Gram), which cancels in every
    cosine and keeps float64 in range (the values grow like a power tower with depth).
    """
    if len(a.ops) != len(b.ops) or any(
        type(x) is not type(y) for x, y in zip(a.ops, b.ops, strict=True)
    ):
        raise ValueError(
            "the two models must have the same sequence of linear/bilinear layers; got "
            f"{[type(o).__name__ for o in a.ops]} and {[type(o).__name__ for o in b.ops]}"
        )
    sym = symmetrize == "layer"
    Gab, Gaa, Gbb = np.eye(a.d_in + 1), np.eye(a.d_in + 1), np.eye(b.d_in + 1)
    log_a = log_b = 0.0
    for op_a, op_b in zip(a.ops, b.ops, strict=True):
        if isinstance(op_a, BilinearOp):
            log_a, log_b = 2 * log_a, 2 * log_b
        Gab = _update(op_a, op_b, Gab, sym)
        Gaa = _update(op_a, op_a, Gaa, sym)
        Gbb = _update(op_b, op_b, Gbb, sym)
        alpha_a, alpha_b = np.abs(Gaa).max(), np.abs(Gbb).max()
        if alpha_a == 0 or alpha_b == 0:
            break  # a zero model; every later Gram stays zero
        Gaa, Gbb, Gab = Gaa / alpha_a, Gbb / alpha_b, Gab / math.sqrt(alpha_a * alpha_b)
        log_a, log_b = log_a + math.log(alpha_a), log_b + math.log(alpha_b)
    diag = [np.diag(G)[1:].copy() for G in (Gab, Gaa, Gbb)]
    return GramInner(*diag, log_a, log_b)
