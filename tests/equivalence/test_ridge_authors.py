"""The authors' ridge estimator, checked against scikit-learn's RidgeCV and train_test_split."""

from __future__ import annotations

import numpy as np
import pytest

from mechequiv.equivalence.distance import (
    authors_split,
    resolve_distance,
    ridge_authors_distance,
    ridge_authors_r2,
    ridge_cv_distance,
)

sklearn = pytest.importorskip("sklearn")
from sklearn.linear_model import RidgeCV  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402


def _sklearn_r2(X: np.ndarray, Y: np.ndarray, seed: int) -> float:
    xtr, xte, ytr, yte = train_test_split(X, Y, test_size=0.1, random_state=seed)
    lin = RidgeCV(alpha_per_target=False, fit_intercept=True).fit(xtr, ytr)
    return float(lin.score(xte, yte))


@pytest.mark.parametrize(
    ("n", "d1", "d2", "scale"),
    [(200, 8, 5, 1.0), (60, 100, 7, 1.0), (150, 12, 12, 0.05), (97, 6, 30, 30.0)],
)
def test_matches_scikit_learn_ridgecv(n, d1, d2, scale):
    rng = np.random.default_rng(n + d1)
    X = scale * rng.normal(size=(n, d1)) * np.logspace(0, -2, d1) + 5.0
    Y = X @ rng.normal(size=(d1, d2)) + 0.3 * scale * rng.normal(size=(n, d2)) - 2.0
    for seed in (0, 3):
        assert ridge_authors_r2(X, Y, seed) == pytest.approx(_sklearn_r2(X, Y, seed), abs=1e-10)
    expected = 1.0 - max(_sklearn_r2(X, Y, 0), 0.0) ** 0.5
    assert ridge_authors_distance(X, Y) == pytest.approx(expected, abs=1e-10)


def test_each_alpha_can_win_and_the_split_is_scikit_learns():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(80, 20))
    for noise in (0.01, 1.0, 30.0):  # little noise: small alpha; much: large
        Y = X[:, :3] + noise * rng.normal(size=(80, 3))
        assert ridge_authors_r2(X, Y, 2) == pytest.approx(_sklearn_r2(X, Y, 2), abs=1e-10)
    idx = np.arange(50)
    train, test = train_test_split(idx, test_size=0.1, random_state=4)
    ours = authors_split(50, 4)
    assert np.array_equal(ours[0], train) and np.array_equal(ours[1], test)


def test_names_and_the_deprecated_alias():
    assert resolve_distance("ridge_authors")[0] == "ridge_authors"
    assert resolve_distance("ridge_cv")[1] is ridge_cv_distance
    with pytest.warns(DeprecationWarning, match="not the authors"):
        assert resolve_distance("ridge")[0] == "ridge_cv"
    with pytest.raises(ValueError, match="at least 20 samples"):
        ridge_authors_r2(np.ones((10, 2)) + np.eye(10, 2), np.eye(10, 3))
