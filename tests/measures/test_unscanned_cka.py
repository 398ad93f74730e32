"""linear_cka / debiased_cka certify finiteness and scale from their moments instead of a
separate pass over the input: the same values as the scanned route, and the same errors.

``scanned`` is the route as it was (check_pair's pass first, then the moments); the new route
must give the same bits wherever it certifies, and fall back to it everywhere else.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mechequiv import measures as M
from mechequiv.measures._moments import moments_of
from mechequiv.measures._validate import SAFE_EXPONENT, ValidationError, check_pair
from mechequiv.measures.cka import _feature_route, cka_from_moments

RNG = np.random.default_rng(0)
N = 3000  # several accumulation blocks at these widths


def scanned(X: object, Y: object, debiased: bool) -> float:
    """The previous route: the finiteness and magnitude pass first (linear_cka as it was,
    for the feature route; the Gram route is unchanged and called as it is)."""
    x, y = check_pair(X, Y, min_samples=4 if debiased else 2, rescale=True, keep_float=True)
    if not _feature_route(x, y, debiased):
        return (M.debiased_cka if debiased else M.linear_cka)(X, Y)
    return cka_from_moments(moments_of(x, y, quartic=debiased), debiased)


def _cases() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    X = RNG.normal(size=(N, 40)) * np.logspace(0, -3, 40)
    Y = np.tanh(X @ RNG.normal(size=(40, 30))) + 0.1 * RNG.normal(size=(N, 30))
    near_constant = X.copy()
    near_constant[:, :5] = 7.0 + 1e-9 * RNG.normal(size=(N, 5))
    one_constant = X.copy()
    one_constant[:, 3] = -2.5
    return {
        "random": (X, Y),
        "near_constant": (near_constant, Y),
        "one_constant_column": (one_constant, Y),
        "rank_deficient": (X[:, :10] @ RNG.normal(size=(10, 40)), Y),
        "huge_offset": (X + 1e8, Y - 1e6),
        "offset_after_the_head": (X + np.where(np.arange(N) < 2000, 0.0, 1e6)[:, None], Y),
        "n_just_above_d": (RNG.normal(size=(60, 40)), RNG.normal(size=(60, 30))),
        "n_below_d": (RNG.normal(size=(25, 40)), RNG.normal(size=(25, 30))),  # the Gram route
        "small_but_in_window": (X * 2.0**-55, Y * 2.0**50),
    }


CASES = _cases()


@pytest.mark.parametrize("debiased", [False, True])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", sorted(CASES))
def test_same_bits_as_the_scanned_route(case, dtype, debiased):
    X, Y = (a.astype(dtype) for a in CASES[case])
    fn = M.debiased_cka if debiased else M.linear_cka
    x, y = check_pair(X, Y, min_samples=4, rescale=True, keep_float=True)
    if _feature_route(x, y, debiased):  # the route that skips the scan, and certifies
        assert moments_of(x, y, quartic=debiased).certifies_window(SAFE_EXPONENT)
    else:
        assert case == "n_below_d"
    expected = _outcome(lambda: scanned(X, Y, debiased))
    assert _outcome(lambda: fn(X, Y)) == expected
    assert _outcome(lambda: fn(torch.from_numpy(X), torch.from_numpy(Y))) == expected


def _outcome(f: object) -> float | str:
    """The value, or the error message (float32 cannot hold 1e8 + noise: a degenerate input
    must be refused alike)."""
    try:
        return f()  # type: ignore[operator,no-any-return]
    except ValueError as err:
        return str(err)


@pytest.mark.parametrize("scale", [2.0**70, 1e300, 2.0**-80, 2.0**-600, 1e-310])
def test_out_of_window_input_falls_back_to_rescaling(scale):
    X, Y = CASES["random"]
    Xs = X * scale
    x, y = check_pair(Xs, Y, rescale=True, keep_float=True)
    assert not moments_of(Xs_t := torch.from_numpy(Xs), torch.from_numpy(Y)).certifies_window(
        SAFE_EXPONENT
    )
    assert Xs_t.abs().max() > 0
    # the power-of-two rescaling of check_pair: the value at a normal scale
    assert M.linear_cka(Xs, Y) == pytest.approx(M.linear_cka(X, Y), rel=1e-12)
    assert M.linear_cka(Xs, Y) == cka_from_moments(moments_of(x, y))
    assert M.debiased_cka(Y, Xs) == pytest.approx(M.debiased_cka(Y, X), rel=1e-12)


def _with_bad(a: np.ndarray, where: list[tuple[int, int]], values: list[float]) -> np.ndarray:
    out = a.copy()
    for (i, j), v in zip(where, values, strict=True):
        out[i, j] = v
    return out


BAD = {
    "nan_in_head": ([(3, 1)], [np.nan]),
    "nan_late": ([(N - 1, 7)], [np.nan]),
    "inf_late": ([(2500, 0)], [np.inf]),
    "minus_inf_head": ([(0, 39)], [-np.inf]),
    "inf_minus_inf_in_head": ([(1, 2), (2, 2)], [np.inf, -np.inf]),  # a NaN pivot
    "inf_and_nan_same_column": ([(10, 5), (2900, 5)], [np.inf, np.nan]),
    "several": ([(5, 5), (6, 6), (2999, 0)], [np.nan, np.inf, -np.inf]),
}


@pytest.mark.parametrize("debiased", [False, True])
@pytest.mark.parametrize("side", ["X", "Y"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("bad", sorted(BAD))
def test_nan_and_inf_raise_the_same_clear_error(bad, dtype, side, debiased):
    X, Y = CASES["random"]
    where, values = BAD[bad]
    Xb = _with_bad(X, where, values).astype(dtype)
    fn = M.debiased_cka if debiased else M.linear_cka
    args = (Xb, Y.astype(dtype)) if side == "X" else (Y.astype(dtype), Xb)
    with pytest.raises(ValidationError) as expected:
        check_pair(*args, rescale=True, keep_float=True)
    assert f"{side} contains {len(where)} NaN or infinite value(s)" in str(expected.value)
    for a, b in (args, (torch.from_numpy(args[0]), torch.from_numpy(args[1]))):
        with pytest.raises(ValidationError) as got:
            fn(a, b)
        assert str(got.value) == str(expected.value)


def test_a_bad_value_beside_a_bad_shape_gives_the_scanned_error():
    X, Y = CASES["random"]
    Xb = _with_bad(X, [(4, 4)], [np.nan])
    Yb = _with_bad(Y, [(4, 4)], [np.nan])
    for args, message in (
        ((Xb, Y[:-1]), "X contains 1 NaN"),
        ((X, Yb[:-1]), "Y contains 1 NaN"),  # each side is scanned before the rows are paired
        ((X[:, 0], Yb), "X must be 2-D"),
    ):
        with pytest.raises(ValidationError, match=message):
            M.linear_cka(*args)


def test_zero_and_constant_inputs_are_refused_as_before():
    X, Y = CASES["random"]
    for const in (np.zeros_like(X), np.full_like(X, 3.0)):
        with pytest.raises(ValueError, match="zero variance"):
            M.linear_cka(const, Y)
        with pytest.raises(ValueError, match="zero variance"):
            scanned(const, Y, debiased=False)
    # an all-zero input cannot be certified (no magnitude to read): the scanned route decides
    assert not moments_of(
        torch.zeros(10, 3, dtype=torch.float64), torch.ones(10, 2)
    ).certifies_window(SAFE_EXPONENT)


def test_other_dtypes_and_routes_keep_the_scanned_check():
    X, Y = CASES["random"]
    ints = (X * 100).astype(np.int64)
    assert M.linear_cka(ints, Y) == scanned(ints, Y, debiased=False)
    wide = np.concatenate([X[:50]] * 60, axis=1)  # d >= WIDE_DIM: reduced first
    with pytest.raises(ValidationError, match="NaN"):
        M.linear_cka(_with_bad(wide, [(1, 1)], [np.inf]), Y[:50])
    with pytest.raises(ValidationError, match="NaN"):  # n < d: the Gram route
        M.linear_cka(_with_bad(X[:20], [(1, 1)], [np.nan]), Y[:20])
