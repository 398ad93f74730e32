"""Each measure against an independent formula (tests/measures/reference_impls.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial.distance import jensenshannon

from mechequiv import measures as M
from mechequiv.measures.regression import _folds
from tests.measures import reference_impls as ref


@pytest.fixture
def xy():
    rng = np.random.default_rng(7)
    X = rng.normal(size=(40, 5))
    Y = np.tanh(X @ rng.normal(size=(5, 4))) + 0.3 * rng.normal(size=(40, 4))
    return X, Y


def test_linear_cka_matches_centring_matrix_formula(xy):
    X, Y = xy
    assert M.linear_cka(X, Y) == pytest.approx(ref.cka_gram(X @ X.T, Y @ Y.T), abs=1e-12)


def test_debiased_cka_matches_bruteforce_u_statistic():
    rng = np.random.default_rng(3)
    X, Y = rng.normal(size=(8, 3)), rng.normal(size=(8, 2))
    expected = ref.cka_gram(X @ X.T, Y @ Y.T, ref.hsic_unbiased_bruteforce)
    assert M.debiased_cka(X, Y) == pytest.approx(expected, abs=1e-10)
    # the Gram route (n < d) against the same brute force
    Xw = np.hstack([X, rng.normal(size=(8, 12))])
    expected = ref.cka_gram(Xw @ Xw.T, Y @ Y.T, ref.hsic_unbiased_bruteforce)
    assert M.debiased_cka(Xw, Y) == pytest.approx(expected, abs=1e-10)


@pytest.mark.parametrize("bandwidth", [0.3, 1.0, 2.0])
def test_rbf_cka_matches_numpy(xy, bandwidth):
    X, Y = xy
    expected = ref.cka_gram(ref.rbf(X, bandwidth), ref.rbf(Y, bandwidth))
    assert M.rbf_cka(X, Y, bandwidth=bandwidth) == pytest.approx(expected, abs=1e-12)


def test_cca_matches_qr_route(xy):
    X, Y = xy
    rho = ref.canonical_correlations_qr(X, Y)
    assert M.cca(X, Y) == pytest.approx(rho.mean(), abs=1e-10)
    assert M.cca(X, Y, statistic="mean_rho2") == pytest.approx((rho**2).mean(), abs=1e-10)


def test_svcca_matches_svd_route(xy):
    X, Y = xy
    assert M.svcca(X, Y) == pytest.approx(ref.svcca_svd(X, Y), abs=1e-10)
    assert M.svcca(X, Y, variance_kept=0.8) == pytest.approx(ref.svcca_svd(X, Y, 0.8), abs=1e-10)
    assert M.svcca(X, Y, keep=2) == pytest.approx(ref.svcca_svd(X, Y, k=2), abs=1e-10)


def test_pwcca_matches_paper_formula(xy):
    X, Y = xy
    # X is the wider side here, so the narrower Y carries the weights.
    assert M.pwcca(X, Y) == pytest.approx(ref.pwcca_paper(Y, X), abs=1e-10)
    assert M.pwcca(Y, X) == pytest.approx(ref.pwcca_paper(Y, X), abs=1e-10)


def test_procrustes_matches_scipy(xy):
    X, Y = xy
    Yp = np.hstack([Y, np.zeros((40, 1))])  # zero-padding to equal width
    assert M.procrustes(X, Y) == pytest.approx(ref.procrustes_angle(X, Yp), abs=1e-10)


def test_procrustes_alpha0_is_arccos_mean_canonical_correlation(xy):
    X, Y = xy
    Yp = np.hstack([Y, np.random.default_rng(0).normal(size=(40, 1))])
    assert M.procrustes(X, Yp, alpha=0.0) == pytest.approx(np.arccos(M.cca(X, Yp)), abs=1e-9)


def test_permutation_distance_matches_bruteforce(xy):
    X, Y = xy
    Yp = np.hstack([Y, np.random.default_rng(1).normal(size=(40, 1))])
    assert M.permutation_distance(X, Yp) == pytest.approx(
        ref.permutation_angle_bruteforce(X, Yp), abs=1e-10
    )


def test_rsa_matches_scipy(xy):
    X, Y = xy
    assert M.rsa(X, Y, compare="pearson") == pytest.approx(
        ref.rsa_correlation_pearson(X, Y), abs=1e-12
    )


def test_kendall_tau_a_matches_bruteforce_with_ties():
    from mechequiv.measures._rsa import kendall_tau_a

    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 5, 60).astype(float), rng.integers(0, 4, 60).astype(float)
    assert kendall_tau_a(a, b) == pytest.approx(ref.kendall_tau_a_bruteforce(a, b), abs=1e-12)


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_knn_measures_match_bruteforce(xy, metric):
    X, Y = xy
    for k in (1, 3, 7):
        nx, ny = ref.knn_sets(X, k, metric), ref.knn_sets(Y, k, metric)
        jac = np.mean([len(a & b) / len(a | b) for a, b in zip(nx, ny, strict=True)])
        mut = np.mean([len(a & b) / k for a, b in zip(nx, ny, strict=True)])
        assert M.knn_jaccard(X, Y, k=k, metric=metric) == pytest.approx(jac, abs=1e-12)
        assert M.mutual_knn(X, Y, k=k, metric=metric) == pytest.approx(mut, abs=1e-12)


def test_ridge_cv_matches_bruteforce_refits():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(24, 3))
    Y = X @ rng.normal(size=(3, 2)) + 0.5 * rng.normal(size=(24, 2))
    alphas = (1e-3, 1e-1, 1.0, 10.0)
    expected = ref.ridge_r2_bruteforce(X, Y, alphas, _folds(24, 4, seed=2))
    assert M.ridge_cv(X, Y, alphas=alphas, folds=4, seed=2).r2 == pytest.approx(expected, abs=1e-10)


def test_bounded_map_closed_form_in_one_dimension():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 1))
    y = 3.0 * x + 0.1 * rng.normal(size=(50, 1))
    xc, yc = x - x.mean(), y - y.mean()
    xh, yh = xc / np.linalg.norm(xc), yc / np.linalg.norm(yc)
    w = np.clip((xh.T @ yh).item() / (xh.T @ xh).item(), -1, 1)
    fit = M.bounded_map_error(x, y)
    assert fit.error == pytest.approx(np.linalg.norm(xh * w - yh), abs=1e-9)


def test_bounded_map_is_optimal_against_random_feasible_maps():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(80, 6)) * np.array([5, 2, 1, 1, 0.5, 0.1])
    Y = X @ rng.normal(size=(6, 4)) + 0.2 * rng.normal(size=(80, 4))
    fit = M.bounded_map_error(X, Y)
    assert fit.op_norm <= 1 + 1e-9
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    Xh, Yh = Xc / np.linalg.norm(Xc), Yc / np.linalg.norm(Yc)
    for _ in range(200):
        W = rng.normal(size=(6, 4))
        W /= np.linalg.norm(W, 2) * rng.uniform(1.0, 3.0)
        assert np.linalg.norm(Xh @ W - Yh) ** 2 >= fit.error**2 - fit.gap - 1e-12


def test_repr_distance_is_zero_for_contractions_and_max_of_directions():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(60, 5))
    Q, _ = np.linalg.qr(rng.normal(size=(5, 5)))
    assert M.repr_distance(X, 4 * X @ Q - 1) == pytest.approx(0.0, abs=1e-7)
    Y = np.tanh(X[:, :3])
    assert M.repr_distance(X, Y) == pytest.approx(
        max(M.bounded_map_error(X, Y).error, M.bounded_map_error(Y, X).error), abs=1e-12
    )


def test_bounded_map_of_an_exact_rotation_needs_no_iterations():
    # the least-squares map is orthogonal, its norm 1 up to rounding: the projection is optimal
    # (a former loop never checked the gap while rounding triggered restarts every step)
    rng = np.random.default_rng(3)
    X = rng.normal(size=(200, 32))
    Q, _ = np.linalg.qr(rng.normal(size=(32, 32)))
    fit = M.bounded_map_error(X, X @ Q)
    assert fit.error == pytest.approx(0.0, abs=1e-6) and fit.iterations == 0


def test_functional_measures_match_numpy():
    rng = np.random.default_rng(4)
    A, B = rng.normal(size=(30, 6)), rng.normal(size=(30, 6))
    assert M.prediction_agreement(A, B) == pytest.approx(np.mean(A.argmax(1) == B.argmax(1)))
    p = np.exp(A) / np.exp(A).sum(1, keepdims=True)
    q = np.exp(B) / np.exp(B).sum(1, keepdims=True)
    js = np.mean([jensenshannon(pi, qi, base=2) ** 2 for pi, qi in zip(p, q, strict=True)])
    assert M.jensen_shannon(A, B) == pytest.approx(js, abs=1e-12)
    assert M.jensen_shannon(p, q, inputs="probs") == pytest.approx(js, abs=1e-12)
    Ac, Bc = A - A.mean(1, keepdims=True), B - B.mean(1, keepdims=True)
    cos = np.mean((Ac * Bc).sum(1) / np.linalg.norm(Ac, axis=1) / np.linalg.norm(Bc, axis=1))
    assert M.logit_cosine(A, B) == pytest.approx(cos, abs=1e-12)


def test_torch_inputs_give_the_same_numbers(xy):
    X, Y = xy
    for name in M.names():
        a = M.get(name)(X, Y) if name not in {"jensen_shannon", "logit_cosine"} else None
        if a is None:
            continue
        b = M.get(name)(torch.from_numpy(X).float(), torch.from_numpy(Y).float())
        assert b == pytest.approx(a, abs=1e-5), name
