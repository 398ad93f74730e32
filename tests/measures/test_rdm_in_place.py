"""RDMs built in place (no n x n temporaries) equal the previous formulas bit for bit; so does
the Spearman comparison without scipy's stacked copies."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mechequiv.measures import _rsa
from mechequiv.measures._validate import as_matrix_scaled, times_power_of_two


def previous_rdm(X: np.ndarray, kind: str) -> torch.Tensor:
    x, e = as_matrix_scaled(X)
    if kind == "euclidean":
        sq = (x * x).sum(1)
        d = (sq[:, None] + sq[None, :] - 2.0 * (x @ x.T)).clamp_min(0.0) / x.shape[1]
        return times_power_of_two(d, 2 * e) if e else d
    if kind == "correlation":
        x = x - x.mean(1, keepdim=True)
    u = x / x.norm(dim=1)[:, None]
    return 1.0 - u @ u.T


@pytest.mark.parametrize("kind", ["euclidean", "correlation", "cosine"])
@pytest.mark.parametrize("scale", [1.0, 1e-30, 2.0**70])
@pytest.mark.parametrize(("n", "d"), [(300, 20), (57, 300), (1100, 8)])  # 1100 rows: 2 bands
def test_in_place_rdm_equals_the_previous_formula(kind, scale, n, d):
    rng = np.random.default_rng(n)
    X = rng.normal(size=(n, d)) * scale + 5.0 * scale
    X[3] = X[4]  # a zero distance, clamped
    assert torch.equal(_rsa.rdm(X, kind), previous_rdm(X, kind))


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("n", [3, 50, 4000])
def test_spearman_equals_scipy_spearmanr_bit_for_bit(ties, n):
    from scipy import stats

    rng = np.random.default_rng(n)
    a = rng.normal(size=n)
    b = a + rng.normal(size=n)
    if ties:
        a, b = np.round(a, 1), np.round(b, 0)
    assert _rsa.compare_rdms(a, b, "spearman") == float(stats.spearmanr(a, b).statistic)
