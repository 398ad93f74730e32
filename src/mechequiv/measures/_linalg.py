"""Small float64 linear-algebra helpers shared by the CCA and Procrustes families."""

from __future__ import annotations

import torch

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
