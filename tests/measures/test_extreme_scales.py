"""Numerically extreme inputs: the value at any scale, or one clear refusal, never a wrong number.

Scale-invariant measures bring an input whose entries lie outside the float64-safe window back
into it by an exact power of two, so X * 1e150 gives the value of X; measures that are not
scale invariant refuse such inputs with a message naming the magnitude.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mechequiv import measures as M
from tests.measures.test_properties import data

# Measures the calibration helper owns solve with their own normalisation; they may refuse.
MAY_REFUSE = {"repr_distance", "jensen_shannon"}
scales = st.builds(lambda k, m: m * 10.0**k, st.integers(-150, 150), st.floats(1.0, 9.99))


def _tol(name: str) -> float:
    return 1e-5 if name == "repr_distance" else 1e-9


@pytest.mark.parametrize("name", M.names())
@given(sx=scales, sy=scales)
def test_value_at_any_scale_or_a_clear_refusal(name, sx, sy):
    info = M.get(name)
    X, Y = data(3, functional=info.functional)
    base = info(X, Y)
    try:
        value = info(X * sx, Y * sy)
    except ValueError as err:
        assert name in MAY_REFUSE, f"{name} refused a rescalable input: {err}"
        assert "magnitude" in str(err)
        return
    assert math.isfinite(value)
    lo, hi = info.range
    assert lo - 1e-12 <= value <= hi + 1e-12
    if "isotropic_scaling" in info.invariances:
        assert value == pytest.approx(base, abs=_tol(name), rel=_tol(name))


@pytest.mark.parametrize("name", ["procrustes", "permutation_distance"])
@given(s=scales, t=st.floats(0.1, 10.0))
def test_euclidean_shape_distance_scales_exactly(name, s, t):
    X, Y = data(5)
    f = M.get(name)
    base = f(X, Y, score="euclidean")
    # Joint scaling multiplies the distance; different scales per side stay exact too.
    assert f(X * s, Y * s, score="euclidean") == pytest.approx(s * base, rel=1e-9)
    expected = f(X * t, Y, score="euclidean")
    assert f(X * (s * t), Y * s, score="euclidean") == pytest.approx(s * expected, rel=1e-9)


def test_a_distance_beyond_float64_is_refused():
    X, Y = data(5)
    with pytest.raises(ValueError, match="exceeds the float64 range"):
        M.procrustes(X * 1e307, Y * 1e-300, score="euclidean")  # ||Xc|| is 2e308
    with pytest.raises(ValueError, match="magnitude up to"):
        M.repr_distance(X * 1e100, Y)


def test_the_reported_failures_of_issue_15():
    X, Y = data(7)
    assert M.linear_cka(X * 1e100, Y) == pytest.approx(M.linear_cka(X, Y), rel=1e-12)
    assert M.debiased_cka(X * 1e100, Y) == pytest.approx(M.debiased_cka(X, Y), rel=1e-12)
    assert M.procrustes(X * 1e160, Y) == pytest.approx(M.procrustes(X, Y), rel=1e-12)


def test_power_of_two_scales_give_the_same_bits():
    X, Y = data(2)
    for name in ("linear_cka", "cca", "procrustes", "rbf_cka", "rsa"):
        f = M.get(name)
        assert f(X * 2.0**700, Y * 2.0**-600) == f(X, Y)


def test_extreme_rdm_is_scaled_back_or_refused():
    X, _ = data(1)
    np.testing.assert_allclose(
        M.rdm(X * 2.0**-300, "euclidean").numpy(), M.rdm(X, "euclidean").numpy() * 2.0**-600
    )
    with pytest.raises(ValueError, match="float64 range"):
        M.rdm(X * 1e200, "euclidean")
    np.testing.assert_allclose(M.rdm(X * 1e250).numpy(), M.rdm(X).numpy(), atol=1e-12)
