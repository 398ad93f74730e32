"""The Gaussian-input form: exact against Gauss-Hermite cubature, brute-force coefficients and
Monte Carlo, and its relation to the weight form."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from torch import nn

from mechequiv.errors import MechequivError
from mechequiv.tensorsim import tensor_inner, tensor_similarity, to_tensor_net
from mechequiv.tensorsim.dense import dense_gaussian_inner, reduce_inputs
from mechequiv.tensorsim.expand import expand
from mechequiv.tensorsim.fullsym import two_layer_full_pair
from mechequiv.tensorsim.gaussian import (
    gaussian_inner,
    gaussian_inner_monte_carlo,
    gaussian_pair,
    standardize,
)
from mechequiv.zoo.models._bilinear import Bilinear
from tests.tensorsim.conftest import random_mlp
from tests.tensorsim.reference import cubature


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


def _gaussian(d: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(d, d)) / np.sqrt(d)
    return rng.normal(size=d) * 0.5, A @ A.T + 0.3 * np.eye(d)


@pytest.mark.parametrize("n_layers", [0, 1, 2, 3])
@pytest.mark.parametrize("residual", [True, False])
@pytest.mark.parametrize("bias", [True, False])
def test_exact_form_matches_gauss_hermitecubature(n_layers, residual, bias):
    d = 2 if n_layers == 3 else 3
    kw = dict(d_in=d, d_model=3, d_hidden=3, n_layers=n_layers, residual=residual, bias=bias)
    ma, mb = random_mlp(50, **kw), random_mlp(51, **kw)
    a, b = to_tensor_net(ma), to_tensor_net(mb)
    mean, cov = _gaussian(d, n_layers)
    want = cubature(a, b, mean, cov, 2**n_layers + 1)
    r = tensor_inner(ma, mb, form="gaussian", mean=mean, cov=cov)
    np.testing.assert_allclose(r.ab, want, rtol=1e-9, atol=1e-12 * np.abs(want).max())
    np.testing.assert_allclose(r.aa, cubature(a, a, mean, cov, 2**n_layers + 1), rtol=1e-9)
    # The default N(0, I) as well.
    got = gaussian_pair(a, b)
    np.testing.assert_allclose(got, cubature(a, b, np.zeros(d), np.eye(d), 2**n_layers + 1),
                               rtol=1e-9, atol=1e-12)  # fmt: skip


@pytest.mark.parametrize("residual", [True, False])
def test_two_layer_cumulants_equal_brute_force_coefficients(residual):
    kw = dict(d_in=5, d_model=4, d_hidden=5, d_out=3, n_layers=2, residual=residual, bias=True)
    a, b = to_tensor_net(random_mlp(52, **kw)), to_tensor_net(random_mlp(53, **kw))
    mean, cov = _gaussian(5, 7)
    sa, sb = standardize(a, mean, cov), standardize(b, mean, cov)
    want = dense_gaussian_inner(*reduce_inputs(sa, sb))[0]
    np.testing.assert_allclose(gaussian_pair(sa, sb), want, rtol=1e-10)


def _permanent(M: np.ndarray) -> float:
    n = M.shape[0]
    return sum(np.prod(M[np.arange(n), list(p)]) for p in itertools.permutations(range(n)))


def _product_of_linear_forms(rows: np.ndarray) -> nn.Sequential:
    """prod_j (rows_j . x) for 4 rows as a two-layer bilinear net of width 2."""
    first, second = Bilinear(4, 2, 2).double(), Bilinear(2, 1, 1).double()
    with torch.no_grad():
        first.L.weight.copy_(torch.as_tensor(rows[[0, 2]]))
        first.R.weight.copy_(torch.as_tensor(rows[[1, 3]]))
        first.D.weight.copy_(torch.eye(2))
        second.L.weight.copy_(torch.tensor([[1.0, 0.0]]))
        second.R.weight.copy_(torch.tensor([[0.0, 1.0]]))
        second.D.weight.fill_(1.0)
    return nn.Sequential(first, second)


def test_products_of_linear_forms_give_permanents():
    """The hardness construction: prod x_i against prod (q_j . x) gives perm(Q) (Gaussian, Q
    orthogonal) and perm(Q) / 4! (fully symmetrised, any Q)."""
    rng = np.random.default_rng(0)
    Q, _ = np.linalg.qr(rng.normal(size=(4, 4)))
    a, b = _product_of_linear_forms(np.eye(4)), _product_of_linear_forms(Q)
    g = tensor_inner(a, b, form="gaussian")
    assert g.ab[0] == pytest.approx(_permanent(Q), rel=1e-10)
    M = rng.normal(size=(4, 4))
    full = two_layer_full_pair(to_tensor_net(a), to_tensor_net(_product_of_linear_forms(M)))
    assert full[0] == pytest.approx(_permanent(M) / 24, rel=1e-10)


def test_bad_gaussians_are_refused():
    m = random_mlp(54, n_layers=1)
    with pytest.raises(ValueError, match=r"mean must have shape \(3,\)"):
        tensor_similarity(m, m, form="gaussian", mean=np.zeros(2))
    with pytest.raises(ValueError, match="symmetric"):
        tensor_similarity(m, m, form="gaussian", cov=np.triu(np.ones((3, 3))))
    with pytest.raises(ValueError, match="positive semi-definite"):
        tensor_similarity(m, m, form="gaussian", cov=-np.eye(3))
    with pytest.raises(ValueError, match="mean and cov are for form='gaussian'"):
        tensor_similarity(m, m, mean=np.zeros(3))
    wide = random_mlp(55, d_in=256, d_model=256, d_hidden=256, d_out=64, n_layers=2)
    with pytest.raises(MechequivError, match=r"multiply-adds here, ~\d+ s on cpu"):
        tensor_similarity(wide, wide, form="gaussian")
