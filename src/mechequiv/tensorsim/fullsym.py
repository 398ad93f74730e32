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

``X`` being the inner product after exchanging legs 2 and 3. Cost O(h^2 d^3), memory
O(h^2 d^2) (``h``: second-layer width, ``d``: padded input width): tractable for small inputs
(tens of coordinates), not for images.
"""

from __future__ import annotations

import numpy as np
import torch

from mechequiv.errors import MechequivError
from mechequiv.tensorsim.network import TensorNet

__all__ = ["MAX_PAIR_ENTRIES", "two_layer_full_inner", "two_layer_full_pair"]

MAX_PAIR_ENTRIES = 2**26


def _factors(net: TensorNet) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(M, N, D): symmetric second-layer input forms (h2, d+1, d+1) and the output map."""
    W1, B1, W2, B2, W3 = net.ops
    lw, rw = B1.L @ W1.W, B1.R @ W1.W
    S = torch.einsum("si,sj->sij", lw, rw)
    S = 0.5 * (S + S.transpose(1, 2))
    A, B = B2.L @ W2.W @ B1.D, B2.R @ W2.W @ B1.D
    M, N = torch.einsum("us,sij->uij", A, S), torch.einsum("us,sij->uij", B, S)
    return M, N, (W3.W @ B2.D)[1:]


def _pair(fa, fb) -> np.ndarray:
    (Ma, Na, Da), (Mb, Nb, Db) = fa, fb

    def frob(X: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
        return torch.einsum("uij,vij->uv", X, Y)

    def trace4(P: torch.Tensor, Q: torch.Tensor, R: torch.Tensor, S: torch.Tensor):
        # tr(P_u Q_v R_u S_v) for all (u, v)
        return torch.einsum("uvik,uvki->uv", torch.einsum("uij,vjk->uvik", P, Q),
                            torch.einsum("uij,vjk->uvik", R, S))  # fmt: skip

    layer = 0.5 * (frob(Ma, Mb) * frob(Na, Nb) + frob(Ma, Nb) * frob(Na, Mb))
    cross = 0.5 * (trace4(Ma, Mb, Na, Nb) + trace4(Ma, Nb, Na, Mb))
    K = (layer + 2 * cross) / 3
    return torch.einsum("ku,uv,kv->k", Da, K, Db).cpu().numpy().copy()


def _check(a: TensorNet, b: TensorNet) -> None:
    for name, net in (("model_a", a), ("model_b", b)):
        if net.n_bilinear != 2:
            raise ValueError(f"{name} has {net.n_bilinear} bilinear layers; this form needs 2")
    h_a, h_b = a.ops[3].L.shape[0], b.ops[3].L.shape[0]
    entries = max(h_a, h_b) ** 2 * (a.d_in + 1) ** 2
    if entries > MAX_PAIR_ENTRIES:
        raise MechequivError(
            f"the fully symmetrised form needs {entries:.3g} entries per array and ~"
            f"{2.0 * h_a * h_b * (a.d_in + 1) ** 3:.2g} flops (limit {MAX_PAIR_ENTRIES} entries; "
            f"second-layer widths {h_a}, {h_b}, padded input width {a.d_in + 1}); use "
            "symmetrize='layer' (fast, but not a same-function test at this depth)"
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
