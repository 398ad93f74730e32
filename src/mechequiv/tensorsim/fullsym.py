"""The fully symmetrised inner product of two-bilinear-layer models, in closed form.

A canonical net ``W1, (L1, R1, D1), W2, (L2, R2, D2), W3`` has the degree-4 tree tensor (after
symmetrising each layer) ``T[k] = sum_u D[k, u] (M_u ⊗ N_u + N_u ⊗ M_u) / 2`` in the padded input
coordinates, with ``S_s = (l_s r_s^T + r_s l_s^T) / 2`` (``l_s``, ``r_s``: rows of ``L1 W1``,
``R1 W1``), ``M_u = sum_s A[u, s] S_s``, ``N_u = sum_s B[u, s] S_s``, ``A = L2 W2 D1``,
``B = R2 W2 D1``, ``D = W3 D2``. Averaging over all 24 permutations of the four legs gives the
canonical symmetric tensor of the polynomial. The layer-symmetrised tensors are invariant under
the 8 permutations that keep the pairing {1, 2}{3, 4}, so the 24 fall into 3 cosets, two of which
give the same value:

    <Sym T_a, Sym T_b> = (<T_a, T_b> + 2 X) / 3,
    X[k, l] = sum_{u, v} D_a[k, u] D_b[l, v] (tr(M_u M'_v N_u N'_v) + tr(M_u N'_v N_u M'_v)) / 2,

``X`` being the inner product after exchanging legs 2 and 3. Cost ``2 h_a h_b n^3``
multiply-adds (``h``: second-layer units, ``n``: padded rank of the joint input, see
:func:`~mechequiv.tensorsim.dense.reduce_inputs`), memory bounded by chunking; refused beyond
``MAX_MULTIPLY_ADDS`` with the estimate.
"""

from __future__ import annotations

import numpy as np
import torch

from mechequiv.errors import MechequivError
from mechequiv.tensorsim._ops import bilinear_at, linear_at
from mechequiv.tensorsim.network import TensorNet

__all__ = [
    "MAX_MULTIPLY_ADDS",
    "alternating_traces",
    "two_layer_cost",
    "two_layer_full_inner",
    "two_layer_full_pair",
]

MAX_MULTIPLY_ADDS = 1e10  # about ten seconds of one core
CHUNK_ENTRIES = 2**23  # float64 entries per intermediate (64 MiB)


def _factors(net: TensorNet) -> _Factors:
    """(M, N, D): symmetric second-layer input forms (h2, d+1, d+1) and the output map."""
    W1, W2, W3 = linear_at(net, 0), linear_at(net, 2), linear_at(net, 4)
    B1, B2 = bilinear_at(net, 1), bilinear_at(net, 3)
    lw, rw = B1.L @ W1.W, B1.R @ W1.W
    S = torch.einsum("si,sj->sij", lw, rw)
    S = 0.5 * (S + S.transpose(1, 2))
    A, B = B2.L @ W2.W @ B1.D, B2.R @ W2.W @ B1.D
    M, N = torch.einsum("us,sij->uij", A, S), torch.einsum("us,sij->uij", B, S)
    return M, N, (W3.W @ B2.D)[1:]


def alternating_traces(
    A: torch.Tensor, B: torch.Tensor, C: torch.Tensor, D: torch.Tensor
) -> torch.Tensor:
    """``tr(A_u B_v C_u D_v)`` for all (u, v): two large matrix products per chunk of u,
    ``2 h_a h_b n^3`` multiply-adds in all, memory bounded by chunking over u."""
    h_a, n, _ = A.shape
    h_b = B.shape[0]
    Bt, Dt = B.permute(1, 0, 2).reshape(n, h_b * n), D.permute(1, 0, 2).reshape(n, h_b * n)
    chunk = max(1, CHUNK_ENTRIES // max(1, n * h_b * n))
    out = []
    for lo in range(0, h_a, chunk):
        a, c = A[lo : lo + chunk], C[lo : lo + chunk]
        k = a.shape[0]
        P = (a.reshape(k * n, n) @ Bt).view(k, n, h_b, n)
        Q = (c.reshape(k * n, n) @ Dt).view(k, n, h_b, n)
        out.append((P * Q.permute(0, 3, 2, 1)).sum((1, 3)))
    return torch.cat(out)


_Factors = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


def _pair(fa: _Factors, fb: _Factors) -> np.ndarray:
    (Ma, Na, Da), (Mb, Nb, Db) = fa, fb

    def frob(X: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
        return torch.einsum("uij,vij->uv", X, Y)

    layer = 0.5 * (frob(Ma, Mb) * frob(Na, Nb) + frob(Ma, Nb) * frob(Na, Mb))
    cross = 0.5 * (alternating_traces(Ma, Mb, Na, Nb) + alternating_traces(Ma, Nb, Na, Mb))
    K = (layer + 2 * cross) / 3
    return torch.einsum("ku,uv,kv->k", Da, K, Db).cpu().numpy().copy()


def two_layer_cost(h_a: int, h_b: int, n: int) -> float:
    """Multiply-adds of the dominant step of the two-layer exact forms, ``2 h_a h_b n^3``."""
    return 2.0 * h_a * h_b * n**3


def _check(a: TensorNet, b: TensorNet) -> None:
    for name, net in (("model_a", a), ("model_b", b)):
        if net.n_bilinear != 2:
            raise ValueError(f"{name} has {net.n_bilinear} bilinear layers; this form needs 2")
    h_a, h_b = bilinear_at(a, 3).L.shape[0], bilinear_at(b, 3).L.shape[0]
    n = a.d_in + 1
    cost = two_layer_cost(h_a, h_b, n)
    if cost > MAX_MULTIPLY_ADDS:
        raise MechequivError(
            f"the fully symmetrised form of two bilinear layers needs ~{cost:.2g} multiply-adds "
            f"here (second-layer units {h_a} x {h_b}, padded input rank {n}; limit "
            f"{MAX_MULTIPLY_ADDS:.0g}); use symmetrize='layer' (fast, but not a same-function "
            "test at this depth)"
        )


def two_layer_full_pair(a: TensorNet, b: TensorNet) -> np.ndarray:
    """Per-output inner products of the fully symmetrised tensors of two nets with exactly two
    bilinear layers each (unscaled)."""
    _check(a, b)
    return _pair(_factors(a), _factors(b))


def two_layer_full_inner(a: TensorNet, b: TensorNet) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-output (ab, aa, bb) inner products of the fully symmetrised tensors of two nets with
    exactly two bilinear layers each (unscaled)."""
    _check(a, b)
    fa, fb = _factors(a), _factors(b)
    return _pair(fa, fb), _pair(fa, fa), _pair(fb, fb)
