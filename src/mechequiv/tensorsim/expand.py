"""Brute-force expansion of a tensor network into its dense tensor (tiny models only).

Used to check the Gram recursion and to compute the *fully* symmetrised inner product, i.e. the
inner product of the canonical symmetric tensors of the two polynomials, where that is small
enough to build. The dense tensor of a net with ``k`` bilinear layers has shape
``(d_out + 1, (d_in + 1,) * 2**k)`` in the padded coordinates.
"""

from __future__ import annotations

import itertools
from typing import cast

import numpy as np
import torch

from mechequiv.errors import MechequivError
from mechequiv.tensorsim.network import LinearOp, TensorNet

__all__ = [
    "MAX_ENTRIES",
    "MAX_LEGS",
    "expand",
    "expand_tensor",
    "full_symmetric_inner",
    "symmetrize_legs",
]

MAX_ENTRIES = 4_000_000
MAX_LEGS = 8


def _check_size(net: TensorNet) -> None:
    legs = net.degree
    entries = (net.d_out + 1) * (net.d_in + 1) ** legs
    if entries > MAX_ENTRIES or legs > MAX_LEGS:
        raise MechequivError(
            f"expanding this model needs {entries:.3g} entries with {legs} input legs (limits: "
            f"{MAX_ENTRIES} entries, {MAX_LEGS} legs); the fully symmetrised inner product is only "
            "available for tiny models with two or more bilinear layers — use symmetrize='layer'"
        )


def expand(net: TensorNet, symmetrize: str = "layer") -> np.ndarray:
    """Dense tensor ``T[k, i_1, ..., i_m]`` with ``f~_k(x~) = T[k] . (x~ ⊗ ... ⊗ x~)``.

    ``symmetrize``: "none" (raw tree), "layer" (each bilinear layer symmetrised in its two
    input groups of legs, as in the recursion) or "full" (all input legs symmetrised).
    """
    T = expand_tensor(net, "layer" if symmetrize == "full" else symmetrize).cpu().numpy()
    return symmetrize_legs(T) if symmetrize == "full" else T


def expand_tensor(net: TensorNet, symmetrize: str = "layer") -> torch.Tensor:
    """:func:`expand` as a float64 tensor on the net's device ("none" or "layer")."""
    if symmetrize not in ("none", "layer"):
        raise ValueError(f"symmetrize must be 'none' or 'layer' here; got {symmetrize!r}")
    _check_size(net)
    n = net.d_in + 1
    first = net.ops[0]
    assert isinstance(first, LinearOp)  # a canonical chain starts with a linear map
    T = torch.eye(n, dtype=first.W.dtype, device=first.W.device)  # (width, flattened legs)
    for op in net.ops:
        if isinstance(op, LinearOp):
            T = op.W @ T
            continue
        A, B = op.L @ T, op.R @ T
        P = A[:, :, None] * B[:, None, :]
        if symmetrize != "none":
            P = 0.5 * (P + P.transpose(1, 2))
        T = op.D @ P.reshape(P.shape[0], -1)
    return T.reshape((net.d_out + 1,) + (n,) * net.degree)


def symmetrize_legs(T: np.ndarray) -> np.ndarray:
    """Average of ``T`` over all permutations of its input legs (axes 1..)."""
    legs = T.ndim - 1
    perms = list(itertools.permutations(range(1, legs + 1)))
    total = cast(np.ndarray, sum(T.transpose((0, *p)) for p in perms))  # >= 1 permutation
    return total / len(perms)


def full_symmetric_inner(a: TensorNet, b: TensorNet) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-output (ab, aa, bb) inner products of the fully symmetrised tensors (outputs 1..)."""
    if a.degree != b.degree:
        raise ValueError(f"the models have different degrees ({a.degree} and {b.degree})")
    Ta, Tb = expand(a, "full"), expand(b, "full")
    ta, tb = Ta.reshape(Ta.shape[0], -1)[1:], Tb.reshape(Tb.shape[0], -1)[1:]
    return (ta * tb).sum(1), (ta * ta).sum(1), (tb * tb).sum(1)
