"""The Gaussian-input form: exact against Monte Carlo, and its relation to the weight form."""

from __future__ import annotations

import numpy as np
import pytest

from mechequiv.tensorsim import tensor_inner, tensor_similarity, to_tensor_net
from mechequiv.tensorsim.expand import expand
from mechequiv.tensorsim.gaussian import gaussian_inner, gaussian_inner_monte_carlo
from tests.tensorsim.conftest import random_mlp


@pytest.mark.parametrize("n_layers", [0, 1])
@pytest.mark.parametrize("residual", [True, False])
@pytest.mark.parametrize("bias", [True, False])
def test_exact_form_matches_monte_carlo(n_layers, residual, bias):
    a = to_tensor_net(random_mlp(10, n_layers=n_layers, residual=residual, bias=bias))
    b = to_tensor_net(random_mlp(11, n_layers=n_layers, residual=residual, bias=bias))
    exact = np.stack(gaussian_inner(a, b))
    n = 200_000
    mc = np.stack(gaussian_inner_monte_carlo(a, b, n_samples=n, seed=0))
    # Standard error of each mean from the per-sample products of a second, independent run.
    x = np.random.default_rng(1).standard_normal((20_000, a.d_in))
    ya, yb = a.forward(x), b.forward(x)
    sd = np.stack([(ya * yb).std(0), (ya * ya).std(0), (yb * yb).std(0)])
    assert np.all(np.abs(mc - exact) < 5 * sd / np.sqrt(n) + 1e-12)


def test_isserlis_relation_to_the_weight_form():
    """Homogeneous one-layer model: E[f_a,k f_b,k] = tr B~_a,k tr B~_b,k + 2 <B~_a,k, B~_b,k>."""
    ma = random_mlp(12, n_layers=1, residual=False)
    mb = random_mlp(13, n_layers=1, residual=False)
    a, b = to_tensor_net(ma), to_tensor_net(mb)
    Ba, Bb = expand(a, "layer")[1:, 1:, 1:], expand(b, "layer")[1:, 1:, 1:]
    trace = np.trace(Ba, axis1=1, axis2=2) * np.trace(Bb, axis1=1, axis2=2)
    want = trace + 2 * (Ba * Bb).sum((1, 2))
    np.testing.assert_allclose(gaussian_inner(a, b)[0], want, rtol=1e-10)
    weight = tensor_inner(ma, mb)  # scaled; compare after unscaling through the cosine parts
    g = tensor_inner(ma, mb, form="gaussian")
    np.testing.assert_allclose(g.ab, want, rtol=1e-10)
    assert weight.scaled and not g.scaled


def test_linear_models_gaussian_form_equals_weight_form():
    a, b = random_mlp(14, n_layers=0, bias=True), random_mlp(15, n_layers=0, bias=True)
    assert tensor_similarity(a, b, form="gaussian") == pytest.approx(
        tensor_similarity(a, b), rel=1e-12
    )


def test_gaussian_similarity_of_a_model_with_itself_is_one_and_invariant():
    from tests.tensorsim.conftest import change_basis, swap_lr

    m = random_mlp(16, n_layers=1, bias=True)
    assert tensor_similarity(m, m, form="gaussian") == pytest.approx(1.0)
    other = change_basis(swap_lr(m, 0), 0)
    assert tensor_similarity(m, other, form="gaussian") == pytest.approx(1.0, abs=1e-9)


def test_monte_carlo_is_seeded():
    a = to_tensor_net(random_mlp(17, n_layers=2))
    r1 = gaussian_inner_monte_carlo(a, a, n_samples=1000, seed=3)
    r2 = gaussian_inner_monte_carlo(a, a, n_samples=1000, seed=3, batch=300)
    np.testing.assert_allclose(r1, r2)
