"""Invariance properties, generated from each measure's registry metadata.

For every measure and every invariance it claims, hypothesis draws data and a transformation of
that kind and checks the value is unchanged. For every invariance it does *not* claim (and for a
non-linear map nobody claims), a fixed example must change the value: metadata that claims too
little or too much fails here.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mechequiv import measures as M

REPRESENTATIONAL = M.names(functional=False)
FUNCTIONAL = M.names(functional=True)
N, D1, D2 = 40, 4, 5  # X narrower: PWCCA weighs the first argument


def transform(kind: str, Y: np.ndarray, rng: np.random.Generator, scale: float = 1.0) -> np.ndarray:
    d = Y.shape[1]
    if kind == "orthogonal":
        Q, R = np.linalg.qr(rng.normal(size=(d, d)))
        return Y @ (Q * np.sign(np.diag(R)))
    if kind == "isotropic_scaling":
        return scale * Y
    if kind == "invertible_linear":
        A = rng.normal(size=(d, d)) + np.diag(rng.uniform(1, 4, d))
        return Y @ (A * np.array([1.0] + [3.0] * (d - 1)))
    if kind == "permutation":
        return Y[:, rng.permutation(d)]
    if kind == "translation":
        return Y + rng.normal(scale=3.0, size=(1, d))
    if kind == "nonlinear":
        return np.sin(2.0 * Y) + Y**2
    raise AssertionError(kind)


def data(seed: int, functional: bool = False) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    if functional:
        A = rng.normal(size=(N, 6))
        return A, A + rng.normal(scale=0.8, size=(N, 6))
    X = rng.normal(size=(N, D1)) * np.array([3.0, 2.0, 1.0, 0.5])
    Y = np.tanh(X @ rng.normal(size=(D1, D2))) + 0.3 * rng.normal(size=(N, D2))
    return X, Y


def claims(name: str) -> list[tuple[str, str]]:
    return [(name, inv) for inv in sorted(M.get(name).invariances)]


def non_claims(name: str) -> list[tuple[str, str]]:
    missing = sorted(set(M.INVARIANCES) - M.get(name).invariances)
    return [(name, inv) for inv in [*missing, "nonlinear"]]


def _tol(name: str) -> float:
    return 1e-5 if name == "repr_distance" else 1e-8


@pytest.mark.parametrize(("name", "kind"), [c for n in REPRESENTATIONAL for c in claims(n)])
@given(seed=st.integers(0, 2**31), scale=st.floats(1e-3, 1e3))
def test_claimed_invariance_holds(name, kind, seed, scale):
    X, Y = data(seed % 1000)
    rng = np.random.default_rng(seed)
    f = M.get(name)
    # Transform the first argument: for asymmetric measures (PWCCA) it is the weighted side.
    assert f(transform(kind, X, rng, scale), Y) == pytest.approx(
        f(X, Y), abs=_tol(name), rel=_tol(name)
    )


@pytest.mark.parametrize(("name", "kind"), [c for n in REPRESENTATIONAL for c in non_claims(n)])
def test_unclaimed_invariance_fails(name, kind):
    X, Y = data(11)
    rng = np.random.default_rng(5)
    f = M.get(name)
    assert abs(f(transform(kind, X, rng, scale=7.0), Y) - f(X, Y)) > 1e-4


@pytest.mark.parametrize(("name", "kind"), [c for n in FUNCTIONAL for c in claims(n)])
@given(seed=st.integers(0, 2**31), scale=st.floats(1e-2, 1e2))
def test_functional_claimed_invariance_holds(name, kind, seed, scale):
    A, B = data(seed % 1000, functional=True)
    f = M.get(name)
    assert f(transform(kind, A, np.random.default_rng(seed), scale), B) == pytest.approx(
        f(A, B), abs=1e-10
    )


@pytest.mark.parametrize(("name", "kind"), [c for n in FUNCTIONAL for c in non_claims(n)])
def test_functional_unclaimed_invariance_fails(name, kind):
    A, B = data(3, functional=True)
    f = M.get(name)
    assert abs(f(transform(kind, A, np.random.default_rng(2), scale=7.0), B) - f(A, B)) > 1e-4


@pytest.mark.parametrize("name", M.names())
def test_symmetry_as_claimed(name):
    info = M.get(name)
    X, Y = data(4, functional=info.functional)
    if not info.functional:
        Y = Y[:, :D1]  # equal widths, so PWCCA's choice of weighted side is the argument order
    assert (info(X, Y) == pytest.approx(info(Y, X), abs=1e-9)) == info.symmetric


@pytest.mark.parametrize("name", M.names())
@given(seed=st.integers(0, 2**31))
def test_values_lie_in_the_stated_range(name, seed):
    info = M.get(name)
    X, Y = data(seed % 1000, functional=info.functional)
    lo, hi = info.range
    assert lo - 1e-12 <= info(X, Y) <= hi + 1e-12


IDENTITY = {
    "linear_cka": 1.0, "debiased_cka": 1.0, "rbf_cka": 1.0, "angular_cka": 0.0, "cca": 1.0,
    "svcca": 1.0, "pwcca": 1.0, "procrustes": 0.0, "permutation_distance": 0.0, "rsa": 1.0,
    "knn_jaccard": 1.0, "mutual_knn": 1.0, "repr_distance": 0.0, "prediction_agreement": 1.0,
    "jensen_shannon": 0.0, "logit_cosine": 1.0,
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(IDENTITY))
def test_identity_of_indiscernibles(name):
    X, _ = data(9, functional=M.get(name).functional)
    assert M.get(name)(X, X) == pytest.approx(IDENTITY[name], abs=1e-6)


def test_every_measure_has_an_identity_or_is_documented():
    # Ridge shrinks, so R^2(X, X) < 1: the one measure without an exact identity value.
    assert set(M.names()) - set(IDENTITY) == {"linear_regression_similarity"}
    X, _ = data(9)
    assert 0.9 < M.linear_regression_similarity(X, X) <= 1.0


@pytest.mark.parametrize("name", ["angular_cka", "procrustes", "permutation_distance"])
def test_triangle_inequality_for_metrics(name):
    assert M.get(name).metric
    rng = np.random.default_rng(0)
    for _ in range(20):
        A, B, C = (rng.normal(size=(30, 4)) @ rng.normal(size=(4, 4)) for _ in range(3))
        f = M.get(name)
        assert f(A, C) <= f(A, B) + f(B, C) + 1e-9
