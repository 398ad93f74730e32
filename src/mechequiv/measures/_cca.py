"""Canonical correlation analysis and its network-comparison variants (SVCCA, PWCCA).

Canonical correlations rho_1 >= rho_2 >= ... are the singular values of
Cxx^{-1/2} Cxy Cyy^{-1/2}, computed from float64 d x d (co)variances. Directions whose variance
is below 1e-10 times the largest are treated as absent (pseudo-inverse whitening), so there are
min(rank X, rank Y) correlations. CCA needs more samples than features (n > max(d1, d2));
otherwise every correlation is trivially 1 and a ``ValueError`` says so.
"""

from __future__ import annotations

from typing import Literal

import torch

from mechequiv.measures._linalg import canonical_correlations, inv_sqrt_psd, reduce_wide
from mechequiv.measures._moments import CrossMoments, moments_of
from mechequiv.measures._validate import ArrayLike, check_choice, check_int, check_pair
from mechequiv.measures.registry import register

Statistic = Literal["mean_rho", "mean_rho2"]
_STATS = ("mean_rho", "mean_rho2")


def _check_enough(n: int, d1: int, d2: int, centred: bool) -> None:
    need = max(d1, d2) + (1 if centred else 0)
    if n < need + 1:
        raise ValueError(
            f"CCA needs more samples than features (n > {need}); got n={n} for widths "
            f"{d1} and {d2}: with fewer, canonical correlations are trivially 1"
        )


def _summarise(rho: torch.Tensor, statistic: str) -> float:
    check_choice(statistic, "statistic", _STATS)
    return float(rho.mean() if statistic == "mean_rho" else (rho * rho).mean())


def cca_from_moments(
    m: CrossMoments, statistic: Statistic = "mean_rho", centred: bool = True
) -> float:
    """CCA summary from accumulated moments; see :func:`cca`."""
    s = m.sums()
    _check_enough(m.n, s.sx.shape[0], s.sy.shape[0], centred)
    cxx, cxy, cyy = m.centred() if centred else m.uncentred()
    return _summarise(canonical_correlations(cxx, cxy, cyy), statistic)


@register(
    kind="similarity",
    range=(0.0, 1.0),
    metric=False,
    symmetric=True,
    invariances=(
        "orthogonal",
        "isotropic_scaling",
        "invertible_linear",
        "permutation",
        "translation",
    ),
    family="cca",
    convention="mean canonical correlation of column-centred data (statistic='mean_rho2' for mean rho^2)",
)
def cca(
    X: ArrayLike, Y: ArrayLike, statistic: Statistic = "mean_rho", centred: bool = True
) -> float:
    """Mean canonical correlation (or mean squared canonical correlation).

    Parameters
    ----------
    X, Y : array (n, d1), (n, d2)
    statistic : {"mean_rho", "mean_rho2"}
        ``"mean_rho"``: mean of the min(rank X, rank Y) canonical correlations (Raghu et al.'s
        summary). ``"mean_rho2"``: mean of their squares (R^2_CCA of Kornblith et al.).
    centred : bool
        Centre columns first (default). ``False`` reproduces the uncentred convention of the
        Kornblith et al. demo notebook (QR of the raw data); it loses translation invariance.

    Invariant to any invertible linear map of either representation (hence to orthogonal maps,
    scaling and permutations) and, when centred, to translation.
    """
    x, y = check_pair(X, Y, rescale=True)
    _check_enough(x.shape[0], x.shape[1], y.shape[1], centred)  # before any d x d moment
    return cca_from_moments(moments_of(x, y), statistic, centred)


def _keep_count(lam: torch.Tensor, variance_kept: float) -> int:
    """Smallest k whose top-k eigenvalues hold at least ``variance_kept`` of the total variance."""
    frac = torch.cumsum(lam, 0) / lam.sum()
    return (
        int(
            torch.searchsorted(
                frac, torch.tensor(variance_kept, dtype=frac.dtype, device=frac.device) - 1e-12
            )
        )
        + 1
    )


def _pca_basis(c: torch.Tensor, variance_kept: float, keep: int | None) -> torch.Tensor:
    lam, V = torch.linalg.eigh(c)
    lam, V = lam.flip(0).clamp_min(0.0), V.flip(1)
    if float(lam.sum()) <= 0.0:
        raise ValueError("a representation has zero variance across samples")
    k = _keep_count(lam, variance_kept) if keep is None else min(keep, c.shape[0])
    result: torch.Tensor = V[:, :k]
    return result


def svcca_from_moments(
    m: CrossMoments, variance_kept: float = 0.99, keep: int | None = None
) -> float:
    """SVCCA from accumulated moments; see :func:`svcca`."""
    if not 0.0 < variance_kept <= 1.0:
        raise ValueError(f"variance_kept must be in (0, 1]; got {variance_kept}")
    if keep is not None:
        check_int(keep, "keep", 1)
    cxx, cxy, cyy = m.centred()
    vx = _pca_basis(cxx, variance_kept, keep)
    vy = _pca_basis(cyy, variance_kept, keep)
    _check_enough(m.n, vx.shape[1], vy.shape[1], True)
    rho = canonical_correlations(vx.T @ cxx @ vx, vx.T @ cxy @ vy, vy.T @ cyy @ vy)
    return float(rho.mean())


@register(
    kind="similarity",
    range=(0.0, 1.0),
    metric=False,
    symmetric=True,
    invariances=("orthogonal", "isotropic_scaling", "permutation", "translation"),
    family="cca",
    convention=(
        "PCA to the fewest components holding >= 99% of variance (Raghu et al. rule), "
        "then mean canonical correlation; centred"
    ),
)
def svcca(
    X: ArrayLike, Y: ArrayLike, variance_kept: float = 0.99, keep: int | None = None
) -> float:
    """Singular-vector CCA (Raghu et al. 2017).

    Each representation is centred and projected on its top principal components: the fewest
    k whose eigenvalues (variances, not singular values) sum to at least ``variance_kept`` of the
    total, or exactly ``keep`` components when given. The score is the mean canonical correlation
    of the two projections. Invariant to orthogonal maps, isotropic scaling, permutation and
    translation; not to general invertible maps (the PCA step is not).
    """
    x, y = check_pair(X, Y, rescale=True)
    # PCA is equivariant to orthogonal maps: a wide side is replaced by its exact n x n
    # row-space factor, so no d x d covariance is formed.
    x, y = reduce_wide(x), reduce_wide(y)
    return svcca_from_moments(moments_of(x, y), variance_kept, keep)


@register(
    kind="similarity",
    range=(0.0, 1.0),
    metric=False,
    symmetric=False,
    invariances=("isotropic_scaling", "permutation", "translation"),
    family="cca",
    convention=(
        "projection-weighted mean canonical correlation (Morcos et al. 2018): weights from "
        "the narrower representation's centred neurons (X on ties) on its canonical variates"
    ),
)
def pwcca(X: ArrayLike, Y: ArrayLike) -> float:
    """Projection-weighted CCA (Morcos et al. 2018), as defined in the paper.

    The centred canonical correlations rho_i (as in :func:`cca`) are averaged with weights
    alpha_i = sum_j |<h_i, z_j>| / sum_i' sum_j |<h_i', z_j>|, where h_i are the canonical
    variates of the side with fewer neurons (X when equal), orthonormalised, and z_j its centred
    neuron activation vectors.

    The authors' code differs in two ways: it builds the directions as U^T (X - mean) + mean
    (adding each neuron's mean to a canonical direction, which makes the weights depend on the
    SVD's arbitrary signs) and projects *uncentred* activations; and when the second model is
    narrower it weighs it with the first model's activations. On the Kornblith et al. demo data
    it gives 0.736982 and this function 0.734668 (see the tests).

    Not symmetric, and not invariant to rotations of the weighted side (the weights depend on
    the neuron basis).
    """
    x, y = check_pair(X, Y, rescale=True)
    if x.shape[1] > y.shape[1]:
        x, y = y, x
    _check_enough(x.shape[0], x.shape[1], y.shape[1], True)  # before any d x d moment
    m = moments_of(x, y)
    cxx, cxy, cyy = m.centred()
    wx, _ = inv_sqrt_psd(cxx)
    wy, _ = inv_sqrt_psd(cyy)
    U, rho, _ = torch.linalg.svd(wx.T @ cxy @ wy, full_matrices=False)
    xc = x - x.mean(0, keepdim=True)
    P, _ = torch.linalg.qr(xc @ wx @ U)
    alpha = (P.T @ xc).abs().sum(1)
    return float((alpha / alpha.sum() * rho).sum())
