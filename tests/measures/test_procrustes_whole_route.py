"""Procrustes and the permutation distance on small float64 host input centre the whole pair
with numpy (``centred_traces_of``) and take singular values through numpy's LAPACK; every value
must equal the previous route's (the block accumulator and torch's svdvals) to 1e-12, on random
and adversarial inputs, on both sides of the size switch."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.optimize import linear_sum_assignment

from mechequiv import measures as M
from mechequiv.measures import _moments
from mechequiv.measures._linalg import reduce_wide
from mechequiv.measures._moments import CACHE_BLOCK_ELEMENTS, centred_traces_of, moments_of
from mechequiv.measures._procrustes import _score
from mechequiv.measures._validate import check_pair_scaled


def _previous_traces(x: torch.Tensor, y: torch.Tensor) -> tuple[float, torch.Tensor, float]:
    nxx, cxy, nyy = moments_of(x, y, auto=False).centred_traces()
    if nxx <= 0.0 or nyy <= 0.0:
        raise ValueError("a representation has zero variance across samples")
    return nxx, cxy, nyy


def previous_procrustes(X: np.ndarray, Y: np.ndarray, score: str = "angular") -> float:
    """The implementation before the whole-input route: block moments, torch's svdvals."""
    x, y, ex, ey = check_pair_scaled(X, Y)
    nxx, cxy, nyy = _previous_traces(reduce_wide(x), reduce_wide(y))
    return _score(nxx, nyy, float(torch.linalg.svdvals(cxy).sum()), score, (ex, ey))


def previous_permutation(X: np.ndarray, Y: np.ndarray, score: str = "angular") -> float:
    x, y, ex, ey = check_pair_scaled(X, Y)
    nxx, cxy, nyy = _previous_traces(x, y)
    c = cxy.numpy()
    rows, cols = linear_sum_assignment(c, maximize=True)
    return _score(nxx, nyy, float(c[rows, cols].sum()), score, (ex, ey))


def _cases() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(0)
    n, d = 100, 64
    X = rng.normal(size=(n, d)) * np.logspace(0, -3, d)
    Y = np.tanh(X @ rng.normal(size=(d, 48))) + 0.3 * rng.normal(size=(n, 48))
    near_constant = X.copy()
    near_constant[:, :5] = 7.0 + 1e-9 * rng.normal(size=(n, 5))
    one_constant = X.copy()
    one_constant[:, 3] = 0.1  # exactly constant: its mean is not exactly 0.1 in float64
    return {
        "random": (X, Y),
        "near_constant_columns": (near_constant, Y),
        "one_constant_column": (one_constant, Y),
        "rank_deficient": (X[:, :6] @ rng.normal(size=(6, d)), Y),
        "n_below_d": (rng.normal(size=(20, 64)), rng.normal(size=(20, 48))),
        "huge_offsets": (X + 1e8, Y - 1e6),
        "offset_beyond_sd": (X + 3.0 * X.std(0), Y),  # the block route's head-mean pivot
        "tiny_scale": (X * 1e-300, Y),  # brought back by a power of two (exponent path)
        "huge_scale": (X * 1e250, Y * 1e-250),
        "two_samples": (X[:2], Y[:2]),
        "single_features": (X[:, :1], Y[:, :1]),
        "rotated_copy": (X, X @ np.linalg.qr(rng.normal(size=(d, d)))[0] + 5.0),
    }


CASES = _cases()


def _agree(new: float, old: float) -> None:
    assert new == pytest.approx(old, rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("case", sorted(CASES))
def test_whole_route_equals_the_block_route_to_1e12(case):
    X, Y = CASES[case]
    assert max(X.size, Y.size) <= CACHE_BLOCK_ELEMENTS  # the new route is the one under test
    if case == "rotated_copy":
        # The angle is 0 in exact arithmetic; arccos turns the cosine's rounding (1e-16) into
        # ~1e-8 for either route, so the routes agree to that, and on the cosine to 1e-12.
        new, old = M.procrustes(X, Y), previous_procrustes(X, Y)
        assert new < 1e-7 and old < 1e-7
        _agree(np.cos(new), np.cos(old))
        return
    _agree(M.procrustes(X, Y), previous_procrustes(X, Y))
    _agree(M.procrustes(Y, X), previous_procrustes(Y, X))
    if case != "huge_scale":  # a Euclidean distance of 1e250 units is refused by both
        _agree(M.procrustes(X, Y, score="euclidean"), previous_procrustes(X, Y, "euclidean"))
    _agree(M.permutation_distance(X, Y), previous_permutation(X, Y))


@pytest.mark.parametrize("rows_over", [-1, 0, 1])
def test_both_sides_of_the_size_switch_agree(rows_over, monkeypatch):
    rng = np.random.default_rng(2)
    d = 64
    n = CACHE_BLOCK_ELEMENTS // d + rows_over
    X = rng.normal(size=(n, d)) + 40.0
    Y = np.sin(X) + 0.5 * rng.normal(size=(n, d))
    whole = []
    real = _moments._centred_traces_whole
    monkeypatch.setattr(
        _moments, "_centred_traces_whole", lambda a, b: whole.append(1) or real(a, b)
    )
    _agree(M.procrustes(X, Y), previous_procrustes(X, Y))
    assert bool(whole) == (rows_over <= 0)


def test_torch_views_and_float32_take_the_values_of_their_float64_copies():
    X, Y = CASES["random"]
    xt = torch.from_numpy(np.asfortranarray(X))  # a non-contiguous (column-major) tensor
    assert not xt.is_contiguous()
    _agree(M.procrustes(xt, torch.from_numpy(Y)), previous_procrustes(X, Y))
    x32 = X.astype(np.float32)
    _agree(M.procrustes(x32, Y), previous_procrustes(x32.astype(np.float64), Y))


@pytest.mark.parametrize("value", [0.1, 1e6 / 3, -7.3e-5, 0.0, 2.0**-1000])
def test_constant_input_is_refused_by_both_routes(value):
    X = np.full((100, 8), value)
    Y = CASES["random"][1]
    for fn in (M.procrustes, previous_procrustes, M.permutation_distance):
        with pytest.raises(ValueError, match="zero variance"):
            fn(X, Y)


def test_constant_columns_centre_to_exact_zeros():
    # Two-pass centring alone leaves the rounding of the first mean (0.1 * 100 / 100 != 0.1
    # in float64 for some n); the second pass makes a constant column exactly zero.
    X = np.full((97, 3), 0.1)
    X[:, 0] = np.arange(97.0)
    nxx, cxy, nyy = centred_traces_of(torch.from_numpy(X), torch.from_numpy(X))
    assert torch.equal(cxy[1:], torch.zeros(2, 3, dtype=torch.float64))
    assert nxx == nyy == pytest.approx(float(((X[:, 0] - 48.0) ** 2).sum()), rel=1e-15)
