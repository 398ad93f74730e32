"""Small float64 linear-algebra helpers shared by the CCA and Procrustes families."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

from mechequiv.measures._validate import centre

# Below this size a dense decomposition is faster on one thread: OpenMP start-up and spin-waits
# dominate, and on a loaded machine they cost 10-50x (measured: eigh of 32 x 32 took 46 ms on two
# threads beside other processes, 1 ms on one).
SMALL_DIM = 256


@contextmanager
def small_problem_threads(dim: int) -> Iterator[None]:
    """Run the block on one torch thread when the matrices involved are at most ``SMALL_DIM``."""
    old = torch.get_num_threads()
    if dim > SMALL_DIM or old == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(old)


# Eigen-directions with variance below this fraction of the largest are treated as absent.
RANK_RTOL = 1e-10


def inv_sqrt_psd(C: torch.Tensor, rtol: float = RANK_RTOL) -> tuple[torch.Tensor, int]:
    """Pseudo-inverse square root of a PSD matrix and its numerical rank.

    Eigenvalues below ``rtol * max eigenvalue`` are dropped (their directions carry no variance).
    """
    lam, V = torch.linalg.eigh(C)
    keep = lam > rtol * lam.max().clamp_min(0.0)
    if not bool(keep.any()):
        raise ValueError("a representation has zero variance across samples")
    Vk = V[:, keep]
    return Vk * lam[keep].rsqrt(), int(keep.sum())


def canonical_correlations(
    cxx: torch.Tensor, cxy: torch.Tensor, cyy: torch.Tensor, rtol: float = RANK_RTOL
) -> torch.Tensor:
    """Canonical correlations (descending) from (co)variance matrices, min(rank X, rank Y) of them."""
    wx, _ = inv_sqrt_psd(cxx, rtol)
    wy, _ = inv_sqrt_psd(cyy, rtol)
    rho = torch.linalg.svdvals(wx.T @ cxy @ wy)
    if float(rho.max()) > 1.0 + 1e-6:
        raise ValueError(
            f"canonical correlation {float(rho.max()):.6g} > 1: the covariance is too "
            "ill-conditioned for CCA (use more samples or fewer features)"
        )
    return rho.clamp_max(1.0)  # rounding only (checked above)


def nuclear_norm(A: torch.Tensor) -> float:
    """Sum of singular values."""
    return float(torch.linalg.svdvals(A).sum())


# Below this (smaller side) a representation is used as it is; the Gram is cheap enough.
LOW_RANK_MIN_DIM = 512
# Directions a low-rank factor may have, and the relative error it must reproduce x to.
LOW_RANK_MAX = 64
LOW_RANK_RTOL = 1e-12


def low_rank_factor(x: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """An (n, r) matrix equal to ``x @ V`` for some V with orthonormal columns, when x (n, d) has
    rank r <= 64; otherwise ``x`` itself.

    Measures invariant to orthogonal maps of features give the same value on the factor, at
    O(n d r) cost instead of O(n d²): wide activations of low rank (e.g.
    :class:`~mechequiv.equivalence.FourierModuleReprs`, rank at most 8 whatever its width)
    become cheap. A seeded randomized range finder proposes 64 directions Q; four more random
    probes reject a full-rank x cheaply (about 7% of one Gram when d = 1000), and a proposal is
    accepted only if ``||x - Q Q^T x||_F <= 1e-12 ||x||_F``, so the factor is exact to
    rounding, never an approximation. Tried only when min(n, d) >= 512.
    """
    n, d = x.shape
    if min(n, d) < LOW_RANK_MIN_DIM or not bool(x.any()):
        return x
    gen = torch.Generator(device=x.device).manual_seed(seed)
    omega = torch.randn(d, LOW_RANK_MAX + 4, generator=gen, dtype=x.dtype, device=x.device)
    sketch = x @ omega
    q, _ = torch.linalg.qr(sketch[:, :LOW_RANK_MAX])
    probe = sketch[:, LOW_RANK_MAX:]
    if float(torch.linalg.matrix_norm(probe - q @ (q.T @ probe))) > LOW_RANK_RTOL * float(
        torch.linalg.matrix_norm(probe)
    ):
        return x
    b = q.T @ x  # (r, d)
    if float(torch.linalg.matrix_norm(x - q @ b)) > LOW_RANK_RTOL * float(
        torch.linalg.matrix_norm(x)
    ):
        return x
    u, s, _ = torch.linalg.svd(b, full_matrices=False)
    keep = s > LOW_RANK_RTOL * s[0]
    return q @ (u[:, keep] * s[keep])


# Feature count from which CKA and Procrustes look for a low-rank factor: the probe costs about
# 70 / d of the d x d moments they would otherwise form (under 4% here).
WIDE_DIM = 2048


def reduce_wide(x: torch.Tensor) -> torch.Tensor:
    """``x``, or the exact low-rank factor of its centred form when x has at least 2048 features
    and rank at most 64 (see :func:`low_rank_factor`); for measures invariant to translation and
    to orthogonal maps of features."""
    if x.shape[1] < WIDE_DIM:
        return x
    xc = centre(x)
    factor = low_rank_factor(xc)
    return x if factor is xc else factor
