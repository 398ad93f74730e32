"""The Gram recursion against brute-force expansion of tiny models, and the expansion itself."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from torch import nn

from mechequiv.tensorsim import tensor_inner, tensor_similarity, to_tensor_net
from mechequiv.tensorsim.expand import expand, full_symmetric_inner, symmetrize_legs
from mechequiv.tensorsim.gram import gram_inner
from mechequiv.zoo.models._bilinear import Bilinear, BilinearMLP
from tests.tensorsim.conftest import random_mlp

CONFIGS = [
    dict(n_layers=n, residual=res, bias=bias)
    for n, res, bias in itertools.product((0, 1, 2), (True, False), (True, False))
]


def _contract(T: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``T[k] . (x~ ⊗ ... ⊗ x~)`` for one raw input ``x``."""
    xt = np.concatenate([[1.0], x])
    out = T
    while out.ndim > 1:
        out = out @ xt
    return out[1:]


@pytest.mark.parametrize("cfg", CONFIGS, ids=str)
@pytest.mark.parametrize("symmetrize", ["none", "layer", "full"])
def test_expansion_reproduces_the_function(cfg, symmetrize):
    m = random_mlp(0, **cfg)
    net = to_tensor_net(m)
    T = expand(net, symmetrize)
    x = np.random.default_rng(1).normal(size=(4, 3))
    want = m(torch.tensor(x)).detach().numpy()
    got = np.stack([_contract(T, xi) for xi in x])
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(net.forward(x), want, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("cfg", CONFIGS, ids=str)
@pytest.mark.parametrize("symmetrize", ["none", "layer"])
def test_recursion_equals_brute_force_inner_product(cfg, symmetrize):
    a, b = to_tensor_net(random_mlp(1, **cfg)), to_tensor_net(random_mlp(2, **cfg))
    Ta, Tb = expand(a, symmetrize), expand(b, symmetrize)
    flat = lambda T: T.reshape(T.shape[0], -1)[1:]  # noqa: E731
    g = gram_inner(a, b, symmetrize)
    for which, (X, Y) in {"ab": (Ta, Tb), "aa": (Ta, Ta), "bb": (Tb, Tb)}.items():
        brute = (flat(X) * flat(Y)).sum(1)
        np.testing.assert_allclose(g.true(which), brute, rtol=1e-9, atol=1e-12)
    r = tensor_inner(a, b, symmetrize=symmetrize)
    brute_cos = (flat(Ta) * flat(Tb)).sum() / np.sqrt((flat(Ta) ** 2).sum() * (flat(Tb) ** 2).sum())
    assert r.similarity == pytest.approx(brute_cos, rel=1e-9, abs=1e-12)
    per = (flat(Ta) * flat(Tb)).sum(1) / np.sqrt((flat(Ta) ** 2).sum(1) * (flat(Tb) ** 2).sum(1))
    np.testing.assert_allclose(r.per_class, per, rtol=1e-9, atol=1e-12)


def test_layer_symmetrised_tree_is_what_the_recursion_compares():
    """By hand for one bilinear layer: the tensor is sum_a D[k,a] (L_a ⊗ R_a + R_a ⊗ L_a)/2."""
    torch.manual_seed(3)
    m = Bilinear(3, 5, 2).double()
    L, R, D = (p.weight.detach().numpy() for p in (m.L, m.R, m.D))
    B = np.einsum("ka,ai,aj->kij", D, L, R)
    B_sym = (B + B.transpose(0, 2, 1)) / 2
    T = expand(to_tensor_net(m), "layer")
    np.testing.assert_allclose(T[1:, 1:, 1:], B_sym, atol=1e-13)
    assert np.abs(T[1:, 0]).max() == 0 and np.abs(T[1:, :, 0]).max() == 0


def test_full_equals_layer_up_to_one_bilinear_layer():
    for n_layers in (0, 1):
        a = random_mlp(4, n_layers=n_layers, bias=True)
        b = random_mlp(5, n_layers=n_layers, bias=True)
        full = full_symmetric_inner(to_tensor_net(a), to_tensor_net(b))
        cos = full[0].sum() / np.sqrt(full[1].sum() * full[2].sum())
        assert tensor_similarity(a, b, symmetrize="full") == pytest.approx(cos, rel=1e-10)
        assert tensor_similarity(a, b, symmetrize="layer") == pytest.approx(cos, rel=1e-10)


def _square_of_products(order: str) -> nn.Sequential:
    """f(x) = (u.x)^2 (v.x)^2 written two ways: h = [(u.x)^2, (v.x)^2] or h = [(u.x)(v.x)] * 2;
    then f = h_1 h_2. Same function, different trees."""
    u, v = torch.tensor([1.0, 2.0, -1.0]), torch.tensor([0.5, -1.0, 3.0])
    first = Bilinear(3, 2, 2).double()
    second = Bilinear(2, 1, 1).double()
    with torch.no_grad():
        if order == "squares":
            first.L.weight.copy_(torch.stack([u, v]))
            first.R.weight.copy_(torch.stack([u, v]))
        else:
            first.L.weight.copy_(torch.stack([u, u]))
            first.R.weight.copy_(torch.stack([v, v]))
        first.D.weight.copy_(torch.eye(2))
        second.L.weight.copy_(torch.tensor([[1.0, 0.0]]))
        second.R.weight.copy_(torch.tensor([[0.0, 1.0]]))
        second.D.weight.copy_(torch.tensor([[1.0]]))
    return nn.Sequential(first, second)


def test_full_symmetrisation_sees_function_equality_that_layer_does_not():
    a, b = _square_of_products("squares"), _square_of_products("products")
    x = torch.randn(6, 3, dtype=torch.float64)
    torch.testing.assert_close(a(x), b(x))
    assert tensor_similarity(a, b, symmetrize="full") == pytest.approx(1.0, abs=1e-12)
    assert tensor_similarity(a, b, symmetrize="layer") < 0.9


def test_symmetrize_legs_is_the_average_over_leg_permutations():
    T = np.random.default_rng(0).normal(size=(2, 3, 3, 3))
    S = symmetrize_legs(T)
    for p in itertools.permutations((1, 2, 3)):
        np.testing.assert_allclose(S.transpose((0, *p)), S, atol=1e-15)
    # The symmetric part keeps the polynomial: T . x^3 is unchanged.
    x = np.random.default_rng(1).normal(size=3)
    np.testing.assert_allclose(S @ x @ x @ x, T @ x @ x @ x, atol=1e-12)


def test_recursion_is_exact_at_depth_where_values_overflow():
    """Ten bilinear layers: norms ~ alpha^(2^10) overflow float64 but the cosine is finite."""
    a = random_mlp(6, d_in=2, d_model=2, d_hidden=2, d_out=2, n_layers=10)
    with torch.no_grad():
        for p in a.parameters():
            p.mul_(8.0)
    r = tensor_inner(a, a, symmetrize="layer")
    assert r.similarity == pytest.approx(1.0, abs=1e-9)
    assert np.isfinite(r.ab).all()


def test_embedding_is_the_linear_map_of_one_hot_inputs():
    torch.manual_seed(0)
    emb = nn.Embedding(5, 3).double()
    model = nn.Sequential(emb, Bilinear(3, 4, 2).double())
    net = to_tensor_net(model)
    tokens = torch.tensor([0, 3, 4])
    np.testing.assert_allclose(
        net.forward(np.eye(5)[tokens.numpy()]), model(tokens).detach().numpy(), atol=1e-12
    )


def test_state_dicts_give_the_same_result_as_modules():
    a, b = random_mlp(7, bias=True), random_mlp(8, bias=True)
    want = tensor_similarity(a, b)
    got = tensor_similarity(a.state_dict(), b.state_dict(), residual=True)
    assert got == pytest.approx(want, rel=1e-12)
    na = random_mlp(7, residual=False)
    nb = random_mlp(8, residual=False)
    got = tensor_similarity(na.state_dict(), nb.state_dict(), residual=False)
    assert got == pytest.approx(tensor_similarity(na, nb), rel=1e-12)
    torch.manual_seed(0)
    single = Bilinear(3, 4, 2, bias=True)
    assert tensor_similarity(single.state_dict(), single, residual=False) == pytest.approx(1.0)


def test_residual_blocks_differ_from_plain_blocks():
    m = random_mlp(9)
    plain = BilinearMLP(3, 3, 4, 2, 2, residual=False).double()
    plain.load_state_dict(m.state_dict())
    assert tensor_similarity(m, plain) < 0.999


@pytest.mark.parametrize("cfg", [c for c in CONFIGS if c["n_layers"] == 2], ids=str)
def test_two_layer_closed_form_equals_brute_force_full_symmetrisation(cfg):
    from mechequiv.tensorsim.fullsym import two_layer_full_inner

    a, b = to_tensor_net(random_mlp(30, **cfg)), to_tensor_net(random_mlp(31, **cfg))
    got = two_layer_full_inner(a, b)
    want = full_symmetric_inner(a, b)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-9, atol=1e-12)


def test_two_layer_full_form_scales_past_expansion():
    a = random_mlp(32, d_in=6, d_model=16, d_hidden=24, n_layers=2, bias=True)
    b = random_mlp(33, d_in=6, d_model=16, d_hidden=24, n_layers=2, bias=True)
    full = tensor_similarity(a, b, symmetrize="full")
    layer = tensor_similarity(a, b, symmetrize="layer")
    assert -1 <= full <= 1 and full != pytest.approx(layer, abs=1e-6)
    assert tensor_similarity(a, a, symmetrize="full") == pytest.approx(1.0)
