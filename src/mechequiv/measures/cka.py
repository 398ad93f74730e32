"""Centred kernel alignment (Kornblith et al. 2019) and its variants.

Conventions shared by this module
---------------------------------
- Rows are samples (stimuli), columns features; X (n, d1) and Y (n, d2) are paired by row.
- Features are column-centred (CKA is translation invariant by construction).
- "Biased" HSIC is Gretton et al.'s V-statistic tr(K H L H) / (n-1)^2; "debiased" HSIC is the
  U-statistic of Song et al. (2012), which can be negative for (nearly) independent data.
- Linear kernels use the feature route (d x d cross-products, O(n (d1^2 + d1 d2 + d2^2)) time)
  unless the n x n Gram route (O(n^2 (d1 + d2))) costs less, i.e. only when n is below about
  the widths; both give the same number. All accumulation is float64 on the input's device.
"""

from __future__ import annotations

import torch

from mechequiv.measures._linalg import (
    WIDE_DIM,
    centred_gram,
    order_statistics,
    reduce_wide,
    self_product_into,
    symmetrise_,
    upper_triangle,
)
from mechequiv.measures._moments import CrossMoments, moments_of
from mechequiv.measures._validate import (
    SAFE_EXPONENT,
    ZERO_VARIANCE_RTOL,
    ArrayLike,
    centre,
    check_not_constant,
    check_pair,
    pair_unscanned,
    safe_arccos,
)
from mechequiv.measures.registry import register

_CKA_INV = ("orthogonal", "isotropic_scaling", "permutation", "translation")


def _ratio(hxy: float, hxx: float, hyy: float, what: str) -> float:
    if hxx <= 0.0 or hyy <= 0.0:
        raise ValueError(
            f"{what}: a self-similarity term is {min(hxx, hyy):.3g} <= 0, so CKA is undefined "
            "(constant representation, or too few samples for the debiased estimator)"
        )
    result: float = hxy / (hxx * hyy) ** 0.5
    return result


def cka_from_moments(m: CrossMoments, debiased: bool = False) -> float:
    """Linear CKA from accumulated moments (feature route); see :func:`linear_cka`."""
    hxx, hxy, hyy = m.centred_frobenius()
    if not debiased:
        if hxx == 0.0 or hyy == 0.0:
            raise ValueError("a representation has zero variance across samples: CKA is undefined")
        return _ratio(hxy, hxx, hyy, "linear CKA")
    n = m.n
    if n < 4:
        raise ValueError(f"the debiased (Song) HSIC estimator needs n >= 4 samples; got {n}")
    sa, sb, sab, saa, sbb, _ = m.centred_row_norm_terms()

    def unbiased(dot: float, s_ab: float, s_a: float, s_b: float) -> float:
        # Song et al. U-statistic on centred features, up to the common factor 1 / (n (n - 3)).
        return dot - n / (n - 2) * s_ab + s_a * s_b / ((n - 1) * (n - 2))

    return _ratio(
        unbiased(hxy, sab, sa, sb),
        unbiased(hxx, saa, sa, sa),
        unbiased(hyy, sbb, sb, sb),
        "debiased CKA",
    )


def hsic_gram(K: torch.Tensor, L: torch.Tensor, debiased: bool = False) -> float:
    """HSIC of two n x n kernel matrices (unnormalised: constant factors cancel in CKA).

    Biased: sum(Kc * Lc) with Kc = H K H. Debiased: Song et al.'s U-statistic times n (n - 3).
    """
    n = K.shape[0]
    if not debiased:
        return float((_centre_gram(K) * _centre_gram(L)).sum())
    if n < 4:
        raise ValueError(f"the debiased (Song) HSIC estimator needs n >= 4 samples; got {n}")
    k = K.clone()
    l = L.clone()
    k.fill_diagonal_(0.0)
    l.fill_diagonal_(0.0)
    k1, l1 = k.sum(1), l.sum(1)
    return float(
        (k * l).sum() + k1.sum() * l1.sum() / ((n - 1) * (n - 2)) - 2.0 / (n - 2) * (k1 @ l1)
    )


def _centre_gram(K: torch.Tensor) -> torch.Tensor:
    K = K - K.mean(0, keepdim=True)
    return K - K.mean(1, keepdim=True)


def cka_gram(K: torch.Tensor, L: torch.Tensor, debiased: bool = False) -> float:
    """CKA of two kernel (Gram) matrices."""
    return _ratio(
        hsic_gram(K, L, debiased),
        hsic_gram(K, K, debiased),
        hsic_gram(L, L, debiased),
        "kernel CKA",
    )


def _linear(X: ArrayLike, Y: ArrayLike, debiased: bool) -> float:
    min_samples = 4 if debiased else 2
    unscanned = pair_unscanned(X, Y, min_samples)
    if unscanned is not None and _feature_route(*unscanned, debiased):
        # The input's finiteness and scale are certified from the moments afterwards instead of
        # by a pass of its own (1.6% of the time at d = 512); the same moments as after
        # check_pair, which finds nothing to rescale in certified input: the same value.
        m = moments_of(*unscanned, quartic=debiased)
        if m.certifies_window(SAFE_EXPONENT):
            return cka_from_moments(m, debiased)
    # float32 input stays float32: the moments convert it block by block to float64.
    x, y = check_pair(X, Y, min_samples=min_samples, rescale=True, keep_float=True)
    if not debiased and max(x.shape[1], y.shape[1]) >= WIDE_DIM:
        # the U-statistic is not translation invariant term by term: biased only
        x, y = x.to(torch.float64), y.to(torch.float64)
        x, y = reduce_wide(x, row_space=False), reduce_wide(y, row_space=False)
    if _moments_cheaper(x, y):
        return cka_from_moments(moments_of(x, y, quartic=debiased), debiased)
    K, total_x, raw_x = centred_gram(x)
    L, total_y, raw_y = centred_gram(y)
    for total, raw, name in ((total_x, raw_x, "X"), (total_y, raw_y, "Y")):
        if total <= ZERO_VARIANCE_RTOL * max(raw, 1e-300):
            raise ValueError(
                f"{name} has zero variance across samples (every row is the same): "
                "the measure is undefined"
            )
    if debiased:
        return cka_gram(K, L, debiased=True)
    # Grams of centred data are already double-centred: HSIC is the plain Frobenius product.
    return _ratio(_dot(K, L), _dot(K, K), _dot(L, L), "linear CKA")


def _moments_cheaper(x: torch.Tensor, y: torch.Tensor) -> bool:
    """Whether the d x d moments cost less than the n x n Grams."""
    n, d1, d2 = x.shape[0], x.shape[1], y.shape[1]
    return n * (d1 * d1 + d1 * d2 + d2 * d2) <= n * n * (d1 + d2)


def _feature_route(x: torch.Tensor, y: torch.Tensor, debiased: bool) -> bool:
    """Whether linear CKA of these inputs goes straight to the d x d moments: not wide enough
    to be reduced first (biased only), and the moments are the cheaper route."""
    if not debiased and max(x.shape[1], y.shape[1]) >= WIDE_DIM:
        return False
    return _moments_cheaper(x, y)


def _dot(a: torch.Tensor, b: torch.Tensor) -> float:
    """Frobenius inner product without an elementwise temporary."""
    return float(torch.dot(a.reshape(-1), b.reshape(-1)))


@register(
    kind="similarity",
    range=(0.0, 1.0),
    metric=False,
    symmetric=True,
    invariances=_CKA_INV,
    family="cka",
    convention="linear kernel, column-centred, biased (Gretton) HSIC; similarity in [0, 1]",
)
def linear_cka(X: ArrayLike, Y: ArrayLike) -> float:
    """Linear CKA with the biased (Gretton) HSIC estimator.

    CKA(X, Y) = ||Xc^T Yc||_F^2 / (||Xc^T Xc||_F ||Yc^T Yc||_F), Xc, Yc column-centred.
    A similarity in [0, 1]; invariant to orthogonal maps, isotropic scaling, feature permutation
    and translation, not to general invertible linear maps.

    Parameters
    ----------
    X, Y : array (n, d1), (n, d2)
        Representations with rows paired by stimulus (numpy or torch; float64 internally).

    Returns
    -------
    float

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).normal(size=(50, 5))
    >>> round(linear_cka(X, 2 * X + 1), 12)
    1.0
    """
    return _linear(X, Y, debiased=False)


@register(
    kind="similarity",
    range=(-1.0, 1.0),
    metric=False,
    symmetric=True,
    invariances=_CKA_INV,
    family="cka",
    convention="linear kernel, Song et al. unbiased HSIC (U-statistic); can be negative; n >= 4",
)
def debiased_cka(X: ArrayLike, Y: ArrayLike) -> float:
    """Linear CKA with Song et al.'s unbiased HSIC estimator (a U-statistic).

    Removes the finite-sample bias of :func:`linear_cka` that makes unrelated high-dimensional
    representations look similar. The value can be slightly negative (or exceed 1 by sampling
    noise) and is reported as computed, never clipped. Needs n >= 4.
    """
    return _linear(X, Y, debiased=True)


@register(
    kind="distance",
    range=(0.0, torch.pi / 2),
    metric=True,
    symmetric=True,
    invariances=_CKA_INV,
    family="cka",
    convention="arccos of biased linear CKA, in radians (the angle between centred Gram matrices)",
)
def angular_cka(X: ArrayLike, Y: ArrayLike) -> float:
    """Angular CKA distance: arccos(linear CKA) in radians, in [0, pi/2].

    The angle between the centred linear Gram matrices viewed as vectors, hence a metric on
    representations up to orthogonal maps, translation and isotropic scaling (Williams et al.
    2021). Rounding past 1 (at most 1e-9) is clipped before arccos; anything larger raises.
    """
    return safe_arccos(linear_cka(X, Y))


def _full_matrix_median(d2: torch.Tensor) -> float:
    """numpy's median of all n^2 entries of a symmetric matrix with a zero diagonal (for an
    even count, the mean of the two middle values), by selection on its upper triangle.

    Sorted, the n^2 entries are the n diagonal zeros followed by each off-diagonal value twice
    (all are >= 0), so entry k >= n of the full order is entry (k - n) // 2 of the triangle's.
    """
    n = d2.shape[0]
    total = n * n
    middle = [total // 2] if total % 2 else [total // 2 - 1, total // 2]
    upper = [k for k in middle if k >= n]
    ranks = [(k - n) // 2 for k in upper]
    values = dict(zip(upper, order_statistics(upper_triangle(d2), ranks), strict=True))
    picked = [values.get(k, 0.0) for k in middle]
    return sum(picked) / len(picked)


def rbf_gram(x: torch.Tensor, bandwidth: float) -> torch.Tensor:
    """Gaussian kernel with sigma^2 = bandwidth^2 * median of squared distances (full n x n matrix).

    Built in place on one n x n buffer: the Gram, then squared distances (diagonal exactly 0),
    then the kernel; the median is a selection on the distances' upper triangle.
    """
    d2 = torch.zeros(x.shape[0], x.shape[0], dtype=x.dtype, device=x.device)
    self_product_into(d2, x, gram=True)  # syrk: half the flops of x @ x.T
    d2 = symmetrise_(d2)
    sq = d2.diagonal().clone()
    d2.mul_(-2.0).add_(sq[:, None]).add_(sq[None, :]).clamp_min_(0.0)
    d2.fill_diagonal_(0.0)
    med = _full_matrix_median(d2)
    if med <= 0.0:
        raise ValueError("median squared distance is 0 (more than half the rows coincide)")
    return d2.mul_(-1.0 / (2.0 * bandwidth**2 * med)).exp_()


def _centre_gram_(K: torch.Tensor) -> torch.Tensor:
    """H K H for a symmetric K, in place: two passes (row means equal column means)."""
    means = K.mean(0)
    means -= means.mean() / 2.0
    return K.sub_(means[:, None]).sub_(means[None, :])


@register(
    kind="similarity",
    range=(0.0, 1.0),
    metric=False,
    symmetric=True,
    invariances=_CKA_INV,
    family="cka",
    convention=(
        "Gaussian kernel, sigma^2 = bandwidth^2 * median squared distance over the full n x n "
        "matrix (diagonal zeros included, Kornblith et al.); biased HSIC by default"
    ),
)
def rbf_cka(X: ArrayLike, Y: ArrayLike, bandwidth: float = 1.0, debiased: bool = False) -> float:
    """Kernel CKA with a Gaussian (RBF) kernel whose width follows the median heuristic.

    Exact convention (Kornblith et al. 2019, reference notebook): for each representation,
    D2 is the n x n matrix of squared Euclidean distances, m = median(D2) over *all* n^2 entries
    including the zero diagonal (for even n^2, the mean of the two middle values, as numpy does),
    and K = exp(-D2 / (2 * bandwidth^2 * m)). So ``bandwidth`` is sigma as a fraction of
    sqrt(m). CKA then uses the biased HSIC (``debiased=True`` for Song's estimator).
    Needs O(n^2) memory; invariant to orthogonal maps, translation, permutation and (because the
    width scales with the data) isotropic scaling.
    """
    if not bandwidth > 0:
        raise ValueError(f"bandwidth must be > 0; got {bandwidth}")
    x, y = check_pair(X, Y, min_samples=4 if debiased else 2, rescale=True)
    xc, yc = centre(x), centre(y)
    check_not_constant(xc, x, "X")
    check_not_constant(yc, y, "Y")
    # Distances are translation invariant; from centred rows the Gram formula does not cancel
    # an offset (|x_i|^2 + |x_j|^2 - 2 x_i.x_j loses 1e-8 of a distance to an offset of 1e4).
    K, L = rbf_gram(xc, bandwidth), rbf_gram(yc, bandwidth)
    if debiased:
        return cka_gram(K, L, debiased=True)
    # Biased HSIC: each kernel centred once, in place; then three inner products.
    K, L = _centre_gram_(K), _centre_gram_(L)
    return _ratio(_dot(K, L), _dot(K, K), _dot(L, L), "kernel CKA")
