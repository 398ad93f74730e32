"""Wide inputs (d > n): exact narrow routes give the values of the d x d formulas, and measures
that cannot run refuse before allocating anything d x d."""

from __future__ import annotations

import importlib

import numpy as np
import pytest
import torch

from mechequiv import measures as M
from mechequiv.measures import _linalg
from mechequiv.measures._cca import svcca_from_moments
from mechequiv.measures._moments import moments_of
from mechequiv.measures._procrustes import MAX_MATCHED_UNITS, procrustes_from_moments
from mechequiv.measures.regression import _folds
from tests.measures.reference_impls import (
    procrustes_angle_whitened,
    ridge_r2_bruteforce,
    svcca_svd,
)


def _cases(n: int = 60) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Random, rank-deficient, huge-offset and near-constant-column wide pairs."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 150))
    Y = np.tanh(X[:, :90]) + 0.3 * rng.normal(size=(n, 90))
    near_constant = X.copy()
    near_constant[:, :10] = 1.0 + 1e-9 * rng.normal(size=(n, 10))
    return {
        "random": (X, Y),
        "rank_deficient": (rng.normal(size=(n, 5)) @ rng.normal(size=(5, 150)), Y),
        "huge_offset": (X + 1e6, Y - 3e5),
        "near_constant": (near_constant, Y),
    }


CASES = _cases()


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("score", ["angular", "euclidean"])
def test_procrustes_row_space_route_equals_the_feature_route(case, score):
    X, Y = CASES[case]
    old = procrustes_from_moments(
        moments_of(torch.from_numpy(X), torch.from_numpy(Y), auto=False), 1.0, score
    )
    assert M.procrustes(X, Y, score=score) == pytest.approx(old, rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("alpha", [0.25, 0.5, 0.9])
def test_partially_whitened_procrustes_counts_the_dropped_null_space(case, alpha):
    # The d x d route amplifies rounding noise in the null space of a wide X (1e-8 off here);
    # the reference whitens from an exact SVD, as the row-space route does.
    X, Y = CASES[case]
    expected = procrustes_angle_whitened(X, Y, alpha)
    assert M.procrustes(X, Y, alpha=alpha) == pytest.approx(expected, rel=1e-9, abs=1e-10)


@pytest.mark.parametrize("case", ["random", "huge_offset", "near_constant"])
def test_svcca_row_space_route(case):
    X, Y = CASES[case]
    old = svcca_from_moments(moments_of(torch.from_numpy(X), torch.from_numpy(Y)))
    assert M.svcca(X, Y) == pytest.approx(old, abs=1e-12)
    assert M.svcca(X, Y) == pytest.approx(svcca_svd(X, Y), abs=1e-10)


@pytest.mark.parametrize("case", ["random", "huge_offset"])
def test_wide_ridge_equals_explicit_refits(case):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(20, 30))
    Y = X[:, :25] @ rng.normal(size=(25, 26)) + rng.normal(size=(20, 26))
    if case == "huge_offset":
        X, Y = X + 1e5, Y - 2e4
    alphas = (0.1, 1.0, 10.0)
    expected = ridge_r2_bruteforce(X, Y, alphas, _folds(20, 4, 0))
    assert M.ridge_cv(X, Y, alphas=alphas, folds=4).r2 == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize("name", ["cca", "pwcca"])
def test_cca_refuses_wide_input_before_forming_moments(name, monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("d x d moments formed before the refusal")

    monkeypatch.setattr(importlib.import_module("mechequiv.measures._cca"), "moments_of", forbidden)
    X, Y = CASES["random"]
    with pytest.raises(ValueError, match="more samples than features"):
        M.get(name)(X, Y)


def test_permutation_distance_refuses_an_assignment_beyond_its_limit():
    x = torch.zeros(3, MAX_MATCHED_UNITS + 1)
    with pytest.raises(ValueError, match="assignment problem"):
        M.permutation_distance(x, torch.zeros(3, 2))


def test_row_space_factor_is_an_exact_rotation():
    X = torch.randn(40, 300, dtype=torch.float64)
    f = _linalg.row_space_factor(X)
    assert f.shape == (40, 40)
    torch.testing.assert_close(f @ f.T, X @ X.T, rtol=1e-12, atol=1e-10)


# The sizes: each measure completes or refuses; a subprocess reports its peak memory.
_SCRIPT = """
import resource, sys, time, numpy as np, torch
from mechequiv import measures as M
rng = np.random.default_rng(0)
X = rng.normal(size=(300, 50_000))
Y = np.concatenate([X[:, :20_000] * 0.5, rng.normal(size=(300, 10_000))], axis=1)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
for name in M.names(functional=False):
    t0 = time.process_time()
    try:
        value = repr(round(M.get(name)(X, Y), 6))
    except ValueError as err:
        value = "refused: " + str(err)[:60]
    print(name, value, round(time.process_time() - t0, 1), flush=True)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print("PEAK_ADDED_KIB", after - before)
"""


@pytest.mark.slow
def test_every_measure_at_n300_d50000_completes_or_refuses_in_bounded_memory():
    import os
    import subprocess
    import sys

    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    out = subprocess.run(
        [sys.executable, "-c", _SCRIPT], capture_output=True, text=True, env=env, check=True
    ).stdout
    lines = dict(line.split(" ", 1) for line in out.strip().splitlines())
    assert set(M.names(functional=False)) <= set(lines)
    refused = {k for k, v in lines.items() if v.startswith("refused")}
    assert refused == {"cca", "pwcca", "permutation_distance"}
    # Inputs are 192 MB; no d x d matrix (20 GB for X) may appear.
    assert int(lines["PEAK_ADDED_KIB"]) < 2 * 2**20


def test_streaming_permutation_refuses_on_the_first_batch():
    s = M.StreamingMeasure("permutation_distance")
    with pytest.raises(ValueError, match="assignment problem"):
        s.update(np.zeros((2, MAX_MATCHED_UNITS + 1)), np.zeros((2, 3)))
    assert s.n == 0


def test_streaming_refuses_an_extreme_batch_by_name():
    s = M.StreamingMeasure("linear_cka")
    with pytest.raises(ValueError, match="magnitude up to"):
        s.update(np.ones((3, 2)) * 1e100, np.ones((3, 2)))
