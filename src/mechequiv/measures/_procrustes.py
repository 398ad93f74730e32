"""Shape metrics: orthogonal Procrustes with partial whitening (Williams et al. 2021) and
permutation alignment.

Both representations are column-centred. Different widths are handled by zero-padding the
narrower one, which leaves every quantity below unchanged (nuclear norms of d1 x d2 matrices).
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from mechequiv.measures._linalg import RANK_RTOL, nuclear_norm, reduce_wide, row_space_factor
from mechequiv.measures._moments import CrossMoments, centred_traces_of, moments_of
from mechequiv.measures._validate import (
    ArrayLike,
    centre,
    check_choice,
    check_pair_scaled,
    safe_arccos,
)
from mechequiv.measures.registry import register

Score = Literal["angular", "euclidean"]
_SCORES = ("angular", "euclidean")


def _partial_whitening(c: torch.Tensor, alpha: float, null: int = 0) -> torch.Tensor:
    """netrep's regularised whitening Z for covariance-like C = Xc^T Xc (not divided by n).

    Z = V diag(d) V^T with d = alpha + (1 - alpha) lam^{-1/2}, rescaled so that the total
    variance tr(Z C Z) equals tr(C). Eigenvalues are floored at 1e-10 times the largest.
    ``null`` counts further zero eigenvalues of the full feature space when C is the covariance
    of a row-space factor: they enter only the rescaling (at the floor), exactly as they would
    in the d x d eigendecomposition, whose directions carry no data.
    """
    lam, V = torch.linalg.eigh(c)
    floor = RANK_RTOL * float(lam.max())
    lam = lam.clamp_min(floor)
    d = alpha + (1 - alpha) * lam.rsqrt()
    new_var = (alpha**2 * lam + 2 * alpha * (1 - alpha) * lam.sqrt() + (1 - alpha) ** 2).sum()
    new_var = new_var + null * (
        alpha**2 * floor + 2 * alpha * (1 - alpha) * floor**0.5 + (1 - alpha) ** 2
    )
    d = d * ((lam.sum() + null * floor) / new_var).sqrt()
    result: torch.Tensor = (V * d) @ V.T
    return result


def _aligned_terms(
    m: CrossMoments, alpha: float, null: tuple[int, int] = (0, 0)
) -> tuple[float, float, torch.Tensor]:
    """(||X~||_F^2, ||Y~||_F^2, X~^T Y~) after centring and alpha-partial whitening; ``null``
    counts the feature directions each side's row-space factor dropped."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1]; got {alpha}")
    nxx, nyy, cxy = _checked_traces(*m.centred_traces())
    if alpha == 1.0:
        return nxx, nyy, cxy
    cxx, _, cyy = m.centred()
    zx, zy = _partial_whitening(cxx, alpha, null[0]), _partial_whitening(cyy, alpha, null[1])
    return float((zx @ cxx @ zx).trace()), float((zy @ cyy @ zy).trace()), zx @ cxy @ zy


def _checked_traces(nxx: float, cxy: torch.Tensor, nyy: float) -> tuple[float, float, torch.Tensor]:
    """(||Xc||^2, ||Yc||^2, Xc^T Yc) from ``centred_traces``' order, refusing zero variance."""
    if nxx <= 0.0 or nyy <= 0.0:
        raise ValueError("a representation has zero variance across samples")
    return nxx, nyy, cxy


def _score(
    nxx: float, nyy: float, inner: float, score: str, exponents: tuple[int, int] = (0, 0)
) -> float:
    """The angle or the Euclidean distance from the aligned terms of x = X / 2^e_x and
    y = Y / 2^e_y (``exponents``; (0, 0) unless an input was brought back from an extreme scale).

    The angle is scale free. The distance is put together at the scale 2^max(e_x, e_y), where
    every term is representable, and multiplied back; a distance beyond float64 is refused.
    """
    check_choice(score, "score", _SCORES)
    if score == "angular":
        return safe_arccos(inner / (nxx * nyy) ** 0.5)
    ex, ey = exponents
    top = max(ex, ey)
    nxx, nyy, inner = (
        nxx * 2.0 ** (2 * (ex - top)),
        nyy * 2.0 ** (2 * (ey - top)),
        inner * 2.0 ** (ex + ey - 2 * top),
    )
    sq = nxx + nyy - 2.0 * inner
    if sq < -1e-9 * (nxx + nyy):
        raise ValueError(f"squared Euclidean shape distance {sq:.3g} < 0 beyond rounding error")
    try:
        return math.ldexp(max(sq, 0.0) ** 0.5, top)
    except OverflowError:
        raise ValueError(
            f"the Euclidean shape distance, {max(sq, 0.0) ** 0.5:.6g} * 2^{top}, exceeds the "
            "float64 range; use score='angular' or rescale the inputs"
        ) from None


def procrustes_from_moments(
    m: CrossMoments,
    alpha: float = 1.0,
    score: Score = "angular",
    exponents: tuple[int, int] = (0, 0),
    null: tuple[int, int] = (0, 0),
) -> float:
    """Shape metric from accumulated moments; see :func:`procrustes`."""
    nxx, nyy, cxy = _aligned_terms(m, alpha, null)
    return _score(nxx, nyy, nuclear_norm(cxy), score, exponents)


@register(
    kind="distance",
    range=(0.0, np.pi / 2),
    metric=True,
    symmetric=True,
    invariances=("orthogonal", "isotropic_scaling", "permutation", "translation"),
    family="shape",
    convention=(
        "angular orthogonal-Procrustes shape metric (Williams et al. 2021, alpha=1), centred, "
        "in radians; score='euclidean' for the unnormalised Frobenius distance"
    ),
)
def procrustes(X: ArrayLike, Y: ArrayLike, alpha: float = 1.0, score: Score = "angular") -> float:
    """Generalised shape metric of Williams et al. (2021), orthogonal-Procrustes family.

    X and Y are centred, then partially whitened with netrep's rule (``alpha=1``: no whitening,
    plain Procrustes; ``alpha=0``: full whitening, which makes the angular score
    arccos(mean canonical correlation)); see ``_partial_whitening`` for the exact rule.
    With X~, Y~ the results and ||.||_* the nuclear norm:

    - ``score="angular"``: arccos(||X~^T Y~||_* / (||X~||_F ||Y~||_F)) in [0, pi/2], radians;
    - ``score="euclidean"``: min over orthogonal Q of ||X~ Q - Y~||_F
      = sqrt(||X~||^2 + ||Y~||^2 - 2 ||X~^T Y~||_*), unnormalised (grows with n and scale).

    Both are metrics. The angular score is invariant to orthogonal maps, isotropic scaling,
    permutation and translation; the Euclidean one is not scale invariant. For 0 < alpha < 1
    netrep's whitening mixes scales, so scale invariance holds only at alpha in {0, 1}.
    """
    x, y, ex, ey = check_pair_scaled(X, Y)
    d1, d2 = x.shape[1], y.shape[1]
    if alpha == 1.0:  # X^T Y and total variances suffice: no moments object, no d x d products
        nxx, nyy, cxy = _checked_traces(*centred_traces_of(reduce_wide(x), reduce_wide(y)))
        return _score(nxx, nyy, nuclear_norm(cxy), score, (ex, ey))
    # the whitening also counts the null directions a factor drops: passed on below
    x = row_space_factor(centre(x)) if d1 > x.shape[0] else x
    y = row_space_factor(centre(y)) if d2 > y.shape[0] else y
    null = (d1 - x.shape[1], d2 - y.shape[1])
    return procrustes_from_moments(moments_of(x, y), alpha, score, (ex, ey), null)


# Widest side a one-to-one matching of units may have: the Hungarian algorithm takes O(d^3) time
# on a dense d1 x d2 cross-product (8192 units: 0.5 GB and minutes; 50,000 would take days).
MAX_MATCHED_UNITS = 8192


def check_matching_size(d1: int, d2: int) -> None:
    if max(d1, d2) > MAX_MATCHED_UNITS:
        raise ValueError(
            f"permutation_distance matches units one to one: a {d1} x {d2} assignment problem "
            f"(O(d^3) time, {d1 * d2 * 8 / 2**30:.2g} GiB of cross-products) is beyond its limit of "
            f"{MAX_MATCHED_UNITS} units per side; use procrustes (rotation-invariant) or reduce "
            "the widths first"
        )


def permutation_from_moments(
    m: CrossMoments, score: Score = "angular", exponents: tuple[int, int] = (0, 0)
) -> float:
    """Permutation shape metric from accumulated moments; see :func:`permutation_distance`."""
    s = m.sums()
    check_matching_size(s.sx.shape[0], s.sy.shape[0])
    return _permutation_score(*_aligned_terms(m, 1.0), score, exponents)


def _permutation_score(
    nxx: float, nyy: float, cxy: torch.Tensor, score: str, exponents: tuple[int, int]
) -> float:
    c = cxy.cpu().numpy()
    rows, cols = linear_sum_assignment(c, maximize=True)
    return _score(nxx, nyy, float(c[rows, cols].sum()), score, exponents)


@register(
    kind="distance",
    range=(0.0, np.pi),
    metric=True,
    symmetric=True,
    invariances=("isotropic_scaling", "permutation", "translation"),
    family="shape",
    convention="angular shape metric under the best one-to-one matching of centred units, radians",
)
def permutation_distance(X: ArrayLike, Y: ArrayLike, score: Score = "angular") -> float:
    """Shape metric with alignment restricted to permutations of units (netrep's PermutationMetric).

    X and Y are centred; the permutation maximising tr(P^T Xc^T Yc) is found exactly by the
    Hungarian algorithm (narrower side zero-padded); the score is the angle
    arccos(<Xc P, Yc> / (||Xc|| ||Yc||)) in radians, or the Euclidean distance
    ||Xc P - Yc||_F with ``score="euclidean"``. Invariant to unit permutations, isotropic
    scaling (angular) and translation, but not to rotations.
    """
    x, y, ex, ey = check_pair_scaled(X, Y)
    check_matching_size(x.shape[1], y.shape[1])
    nxx, nyy, cxy = _checked_traces(*centred_traces_of(x, y))
    return _permutation_score(nxx, nyy, cxy, score, (ex, ey))
