"""The three exact routes of the two-layer same-function forms (second-layer units; per-output
sums of squares; each model's packed symmetric quartic) against brute-force polynomial
coefficients and Gauss-Hermite cubature."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mechequiv.tensorsim import tensor_inner, to_tensor_net
from mechequiv.tensorsim.dense import dense_full_inner, dense_gaussian_inner, reduce_inputs
from mechequiv.tensorsim.fullsym import (
    TwoLayerNet,
    choose_route,
    full_pair,
    max_multiply_adds,
    route_costs,
    tensor_cost,
    two_layer_full_pair,
)
from mechequiv.tensorsim.gaussian import gaussian_pair, standardize
from tests.tensorsim.conftest import change_basis, move_scale, permute_hidden, random_mlp, swap_lr
from tests.tensorsim.reference import cubature

ROUTES = ["units", "squares", "tensor"]
# (d_in, d_model_a, d_hidden_a, d_model_b, d_hidden_b): equal shapes, a stream wider and
# narrower than the input (rank-deficient first maps), and two models of different shapes.
SHAPES = [(3, 3, 4, 3, 4), (2, 4, 3, 4, 3), (5, 2, 3, 3, 5), (4, 3, 6, 2, 2)]


def _pair(shape, residual: bool, bias: bool, d_out: int = 3):
    d_in, dma, ha, dmb, hb = shape
    a = random_mlp(70, d_in, dma, ha, d_out, 2, residual, bias)
    b = random_mlp(71, d_in, dmb, hb, d_out, 2, residual, bias)
    return to_tensor_net(a), to_tensor_net(b)


def _close(got: np.ndarray, want: np.ndarray, rtol: float = 1e-12) -> None:
    np.testing.assert_allclose(got, want, rtol=0, atol=rtol * np.abs(want).max())


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("residual", [True, False])
@pytest.mark.parametrize("bias", [True, False])
def test_full_routes_equal_brute_force(shape, residual, bias):
    a, b = _pair(shape, residual, bias)
    ab, aa, bb = dense_full_inner(*reduce_inputs(a, b))
    for route in ROUTES:
        _close(two_layer_full_pair(a, b, route), ab)
        _close(two_layer_full_pair(b, a, route), ab)
        _close(two_layer_full_pair(a, a, route), aa)
        _close(two_layer_full_pair(b, b, route), bb)


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("residual", [True, False])
def test_gaussian_routes_equal_brute_force_under_a_general_gaussian(shape, residual):
    a, b = _pair(shape, residual, bias=True)
    rng = np.random.default_rng(3)
    d = a.d_in
    A = rng.normal(size=(d, d)) / np.sqrt(d)
    mean, cov = 0.4 * rng.normal(size=d), A @ A.T + 0.2 * np.eye(d)
    sa, sb = standardize(a, mean, cov), standardize(b, mean, cov)
    want = dense_gaussian_inner(*reduce_inputs(sa, sb))[0]
    for route in ROUTES:
        _close(gaussian_pair(sa, sb, route), want)


@pytest.mark.parametrize("route", ROUTES)
def test_gaussian_routes_equal_cubature(route):
    a, b = _pair((2, 3, 3, 2, 4), residual=True, bias=True)
    mean, cov = np.array([0.3, -0.5]), np.array([[1.0, 0.4], [0.4, 0.7]])
    got = gaussian_pair(standardize(a, mean, cov), standardize(b, mean, cov), route)
    _close(got, cubature(a, b, mean, cov, points=5))


models = st.builds(
    random_mlp,
    seed=st.integers(0, 10_000),
    d_in=st.integers(1, 4),
    d_model=st.integers(1, 4),
    d_hidden=st.integers(1, 5),
    d_out=st.integers(1, 3),
    n_layers=st.just(2),
    residual=st.booleans(),
    bias=st.booleans(),
)


@settings(max_examples=25, deadline=None)
@given(model=models, seed=st.integers(0, 1000))
def test_routes_agree_and_see_through_reparameterisations(model, seed):
    """Both routes equal the brute-force value, and hidden permutations, scale moved between a
    unit's factors, L/R swaps and a residual-stream basis change (the same function) leave every
    per-output value unchanged."""
    other = change_basis(swap_lr(move_scale(permute_hidden(model, seed), seed), seed), seed)
    a, b = to_tensor_net(model), to_tensor_net(other)
    want = dense_full_inner(*reduce_inputs(a, b))
    scale = max(np.abs(want[1]).max(), 1e-300)
    for route in ROUTES:
        got = two_layer_full_pair(a, b, route)
        np.testing.assert_allclose(got, want[0], rtol=0, atol=1e-10 * scale)
        np.testing.assert_allclose(got, want[1], rtol=0, atol=1e-8 * scale)


def test_the_fastest_route_is_chosen():
    wide = TwoLayerNet(to_tensor_net(random_mlp(0, 3, 3, 64, 2, 2, residual=True)))
    many_outputs = TwoLayerNet(to_tensor_net(random_mlp(0, 3, 3, 2, 40, 2, residual=False)))
    n = wide.Q.shape[1]
    costs = route_costs(wide, wide, n)
    assert costs["tensor"] < costs["squares"] < costs["units"]
    assert choose_route(wide, wide, n, "form", None) == "tensor"
    assert choose_route(many_outputs, many_outputs, n, "form", None) == "units"
    with pytest.raises(ValueError, match="route must be"):
        choose_route(wide, wide, n, "form", "fast")
    # Either way the same numbers.
    _close(full_pair(wide, wide, "units"), full_pair(wide, wide, "squares"))
    _close(full_pair(wide, wide, "tensor"), full_pair(wide, wide, "squares"))


def test_kept_quartics_make_later_pairs_cheap_and_equal():
    """A net's packed quartics are kept after its first pair: the next pair's estimate drops
    the forming, and the values are those of a fresh computation."""
    a = TwoLayerNet(to_tensor_net(random_mlp(5, 4, 4, 16, 3, 2, residual=True, bias=True)))
    b = TwoLayerNet(to_tensor_net(random_mlp(6, 4, 4, 16, 3, 2, residual=True, bias=True)))
    n = a.Q.shape[1]
    before = tensor_cost(a, b, n)
    first = full_pair(a, b, "tensor")
    assert a.quartics_cached and b.quartics_cached and a.same_basis(b)
    assert tensor_cost(a, b, n) < before / 10
    _close(full_pair(a, b, "tensor"), first)
    fresh = two_layer_full_pair(a.net, b.net, "tensor")
    np.testing.assert_array_equal(first, fresh)


def test_skip_path_and_block_parts_through_the_fast_routes():
    """The default result's block-only similarity (whole minus skip tensors) for a wide pair
    equals the brute-force cosine of the block tensors."""
    kw = dict(d_in=2, d_model=2, d_hidden=24, d_out=2, n_layers=2, residual=True)
    ma, mb = random_mlp(80, **kw), random_mlp(81, **kw)
    r = tensor_inner(ma, mb)
    a, b = to_tensor_net(ma), to_tensor_net(mb)
    sa, sb = a.skip_net(), b.skip_net()
    ab = dense_full_inner(*reduce_inputs(a, b))[0]
    _close(r.ab, ab)
    # <T_a - S_a, T_b - S_b> from brute-force pieces.
    parts = {
        (x, y): dense_full_inner(*reduce_inputs(p, q))[0]
        for x, p in (("a", a), ("sa", sa))
        for y, q in (("b", b), ("sb", sb))
    }
    block_ab = parts["a", "b"] - parts["a", "sb"] - parts["sa", "b"] + parts["sa", "sb"]
    block_aa = (
        dense_full_inner(*reduce_inputs(a, a))[0]
        - 2 * dense_full_inner(*reduce_inputs(a, sa))[0]
        + dense_full_inner(*reduce_inputs(sa, sa))[0]
    )
    block_bb = (
        dense_full_inner(*reduce_inputs(b, b))[0]
        - 2 * dense_full_inner(*reduce_inputs(b, sb))[0]
        + dense_full_inner(*reduce_inputs(sb, sb))[0]
    )
    want = block_ab.sum() / np.sqrt(block_aa.sum() * block_bb.sum())
    assert r.block_similarity == pytest.approx(want, abs=1e-12)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("route", ROUTES)
def test_routes_run_on_cuda_and_agree_with_the_cpu(route):
    a, b = _pair((3, 3, 4, 2, 5), residual=True, bias=True)
    ga, gb = a.to("cuda"), b.to("cuda")
    pa = TwoLayerNet(ga)
    assert pa.Q.is_cuda and pa.forms().Y.is_cuda
    _close(two_layer_full_pair(ga, gb, route), two_layer_full_pair(a, b, route))
    _close(gaussian_pair(ga, gb, route), gaussian_pair(a, b, route))


def test_the_refusal_limit_depends_on_the_device():
    assert max_multiply_adds(torch.device("cuda")) > max_multiply_adds(torch.device("cpu"))
