"""Every optimisation checked against the implementation it replaced, to 1e-12.

``legacy_sums`` is the previous one-shot moment code (full-array centring, three GEMMs), kept
here only as the reference for the blocked, syrk-based, float32-converting accumulator.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mechequiv import measures as M
from mechequiv.measures._cca import cca_from_moments, svcca_from_moments
from mechequiv.measures._moments import CrossMoments, _Sums
from mechequiv.measures._procrustes import procrustes_from_moments
from mechequiv.measures.cka import cka_from_moments
from tests.measures import reference_impls as ref


def legacy_sums(x: torch.Tensor, y: torch.Tensor, quartic: bool) -> CrossMoments:
    x, y = x.double(), y.double()
    cx, cy = x.mean(0), y.mean(0)
    x, y = x - cx, y - cy
    q = None
    if quartic:
        qx, qy = (x * x).sum(1), (y * y).sum(1)
        q = {
            "qx": qx.sum(), "qy": qy.sum(), "qxqy": qx @ qy, "qxqx": qx @ qx, "qyqy": qy @ qy,
            "qy_x": qy @ x, "qx_y": qx @ y, "qx_x": qx @ x, "qy_y": qy @ y,
        }  # fmt: skip
    m = CrossMoments(quartic=quartic)
    m._sums = _Sums(x.shape[0], x.sum(0), y.sum(0), x.T @ x, x.T @ y, y.T @ y, q)
    m._cx, m._cy = cx, cy
    return m


def _cases() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(0)
    n = 3000  # several blocks at these widths
    X = rng.normal(size=(n, 40)) * np.logspace(0, -3, 40)
    Y = np.tanh(X @ rng.normal(size=(40, 30))) + 0.1 * rng.normal(size=(n, 30))
    near_constant = X.copy()
    near_constant[:, :5] = 7.0 + 1e-9 * rng.normal(size=(n, 5))
    sorted_rows = X[np.argsort(X[:, 0])] + np.linspace(0, 1e4, n)[:, None]
    return {
        "random": (X, Y),
        "near_constant": (near_constant, Y),
        "rank_deficient": (X[:, :10] @ rng.normal(size=(10, 40)), Y),
        "huge_offset": (X + 1e8, Y - 1e6),
        "drifting_offset": (sorted_rows, Y),
        "n_below_d": (rng.normal(size=(25, 40)), rng.normal(size=(25, 30))),
    }


CASES = _cases()
FROM_MOMENTS = {
    "linear_cka": (lambda m: cka_from_moments(m), False),
    "debiased_cka": (lambda m: cka_from_moments(m, debiased=True), True),
    "procrustes": (procrustes_from_moments, False),
    "procrustes_alpha_half": (lambda m: procrustes_from_moments(m, alpha=0.5), False),
    "cca": (cca_from_moments, False),
    "svcca": (svcca_from_moments, False),
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("name", sorted(FROM_MOMENTS))
def test_blocked_moments_equal_the_previous_one_shot_moments(case, name):
    X, Y = CASES[case]
    fn, quartic = FROM_MOMENTS[name]
    x, y = torch.from_numpy(X), torch.from_numpy(Y)
    try:
        old = fn(legacy_sums(x, y, quartic))
    except ValueError as err:
        with pytest.raises(ValueError, match=str(err)[:20]):
            fn(CrossMoments(quartic=quartic).update(x, y))
        return
    new = fn(CrossMoments(quartic=quartic).update(x, y))
    # Where whitening meets an ill-conditioned covariance (collinear drift, a null space) the
    # previous code's own answer moves with the order of summation: there the new one must lie
    # within that rounding sensitivity, measured by reordering the rows.
    perm = torch.from_numpy(np.random.default_rng(1).permutation(x.shape[0]))
    sensitivity = abs(fn(legacy_sums(x[perm], y[perm], quartic)) - old)
    assert abs(new - old) <= max(1e-12 * max(1.0, abs(old)), 20 * sensitivity)


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("name", ["linear_cka", "debiased_cka"])
def test_float32_input_equals_its_float64_conversion(case, name):
    X, Y = CASES[case]
    if case == "huge_offset":  # float32 cannot hold 1e8 + noise: convert first either way
        X, Y = X - 1e8, Y + 1e6
    x32, y32 = torch.from_numpy(X).float(), torch.from_numpy(Y).float()
    f = M.get(name)
    assert f(x32, y32) == pytest.approx(f(x32.double(), y32.double()), rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("case", sorted(CASES))
def test_gram_route_equals_the_previous_full_centred_gram(case):
    X, Y = CASES[case]
    if case == "huge_offset":  # 1e8 on unit variance is refused as constant by both routes
        X, Y = X - 1e8 + 1e5, Y + 1e6 - 1e3
    X, Y = X[:30], np.concatenate([Y[:30]] * 3, axis=1)  # n < widths: the Gram route
    xc, yc = X - X.mean(0), Y - Y.mean(0)
    K, L = xc @ xc.T, yc @ yc.T
    old = (K * L).sum() / np.sqrt((K * K).sum() * (L * L).sum())
    assert M.linear_cka(X, Y) == pytest.approx(old, rel=1e-12)
    assert M.linear_cka(X.astype(np.float32), Y) == pytest.approx(
        M.linear_cka(X.astype(np.float32).astype(np.float64), Y), rel=1e-12
    )


def legacy_rbf_cka(X: np.ndarray, Y: np.ndarray, bandwidth: float = 1.0) -> float:
    """The previous rbf_cka: full sort for the median, each kernel centred for every HSIC."""

    def gram(x: torch.Tensor) -> torch.Tensor:
        sq = (x * x).sum(1)
        d2 = (sq[:, None] + sq[None, :] - 2.0 * (x @ x.T)).clamp_min(0.0)
        srt = d2.flatten().sort().values
        k = srt.numel()
        med = float(srt[k // 2]) if k % 2 else float(srt[k // 2 - 1 : k // 2 + 1].mean())
        return torch.exp(-d2 / (2.0 * bandwidth**2 * med))

    def centred(K: torch.Tensor) -> torch.Tensor:
        K = K - K.mean(0, keepdim=True)
        return K - K.mean(1, keepdim=True)

    K, L = gram(torch.from_numpy(X)), gram(torch.from_numpy(Y))

    def hsic(a: torch.Tensor, b: torch.Tensor) -> float:
        return float((centred(a) * centred(b)).sum())

    return hsic(K, L) / (hsic(K, K) * hsic(L, L)) ** 0.5


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("n", [2, 3, 40, 41])
def test_rbf_cka_selection_median_equals_the_previous_sort(case, n):
    X, Y = CASES[case]
    # The previous code lost 1e-8 to an offset (distances from uncentred Grams); there the
    # reference is the independent cdist formula, which subtracts rows directly.
    reference = legacy_rbf_cka
    if case == "huge_offset":  # 1e8 on unit variance is refused as constant by both
        X, Y = X - 1e8 + 1e4, Y + 1e6 - 1e3
        reference = lambda a, b, w=1.0: ref.cka_gram(ref.rbf(a, w), ref.rbf(b, w))  # noqa: E731
    X, Y = X[:n].copy(), Y[:n]
    if n > 3:
        X[n // 2 :: 3] = X[0]  # tied distances around the median
    assert M.rbf_cka(X, Y) == pytest.approx(reference(X, Y), rel=1e-12, abs=1e-12)
    assert M.rbf_cka(X, Y, bandwidth=0.3) == pytest.approx(
        reference(X, Y, 0.3), rel=1e-12, abs=1e-12
    )


@pytest.mark.parametrize("kind", ["correlation", "euclidean", "cosine"])
@pytest.mark.parametrize("compare", ["spearman", "pearson", "kendall_tau_a"])
def test_rsa_condensed_rdms_equal_the_previous_index_arrays(kind, compare, monkeypatch):
    from mechequiv.measures._rsa import compare_rdms

    X, Y = CASES["random"]
    X, Y = X[:50], Y[:50]

    def previous(Z: np.ndarray) -> np.ndarray:
        d = M.rdm(Z, kind)
        i, j = torch.triu_indices(50, 50, offset=1)
        return d[i, j].numpy()

    old = compare_rdms(previous(X), previous(Y), compare)

    def forbidden(*args, **kwargs):
        raise AssertionError("an n^2 index array was built")

    monkeypatch.setattr(torch, "triu_indices", forbidden)
    assert M.rsa(X, Y, rdm_kind=kind, compare=compare) == pytest.approx(old, abs=1e-15)
