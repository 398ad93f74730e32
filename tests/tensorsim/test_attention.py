"""Polynomial attention: the sequence recursion against brute-force expansion, invariances."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from mechequiv.errors import MechequivError
from mechequiv.tensorsim import tensor_inner, tensor_similarity
from mechequiv.tensorsim.attention import PolynomialAttention, to_seq_net
from mechequiv.tensorsim.dynamics import similarity_over_training


def attn_model(
    seed: int, d_in=2, d_model=3, heads=2, d_head=2, d_out=2, n_layers=1, causal=True
) -> nn.Sequential:
    torch.manual_seed(seed)
    layers: list[nn.Module] = [nn.Linear(d_in, d_model, bias=False)]
    for _ in range(n_layers):
        layers.append(PolynomialAttention(d_model, heads, d_head, causal))
    layers.append(nn.Linear(d_model, d_out, bias=False))
    return nn.Sequential(*layers).double()


def brute_tensor(model: nn.Sequential, n: int, symmetrize: str) -> np.ndarray:
    """Dense (n*d_out, (n*d_in)^5) tensor of embed -> attention -> unembed, built from its
    definition with explicit position deltas."""
    E, attn, U = model[0].weight, model[1], model[2].weight
    h, e = attn.n_heads, attn.d_head

    def w(lin):  # (heads, d_head, d_in), the embedding folded in
        return (lin.weight @ E).reshape(h, e, -1)

    O = (U @ attn.O.weight).reshape(-1, h, e)
    mask = torch.ones(n, n, dtype=torch.float64)
    mask = mask.tril() if attn.causal else mask
    d = torch.eye(n, dtype=torch.float64)
    T = torch.einsum(
        "ij,iP,jQ,iR,jS,jT,khe,hca,hcb,hfx,hfy,hez->ikPaQbRxSyTz",
        mask, d, d, d, d, d, O, w(attn.Q1), w(attn.K1), w(attn.Q2), w(attn.K2), w(attn.V),
    ).detach() / e**2  # fmt: skip
    if symmetrize == "layer":  # average over the swap of legs (Q1, K1) <-> (Q2, K2)
        T = 0.5 * (T + T.permute(0, 1, 6, 7, 8, 9, 2, 3, 4, 5, 10, 11))
    return T.reshape(n * O.shape[0], -1).numpy()


@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("symmetrize", ["none", "layer"])
def test_recursion_equals_brute_force(causal, symmetrize):
    n = 3
    a, b = attn_model(0, causal=causal), attn_model(1, causal=causal)
    Ta, Tb = brute_tensor(a, n, symmetrize), brute_tensor(b, n, symmetrize)
    # The dense tensor reproduces the function ...
    x = torch.randn(2, n, 2, dtype=torch.float64)
    X = x.reshape(2, -1).numpy()
    for s in range(2):
        y = Ta.reshape(-1, *(X.shape[1],) * 5)
        for _ in range(5):
            y = y @ X[s]
        np.testing.assert_allclose(y, a(x)[s].detach().reshape(-1).numpy(), rtol=1e-10)
    # ... and its inner products are what the recursion computes (per output, summed over positions).
    r = tensor_inner(a, b, n_ctx=n, symmetrize=symmetrize)
    per_out = lambda X, Y: (X * Y).sum(1).reshape(n, -1).sum(0)  # noqa: E731
    ab, aa, bb = per_out(Ta, Tb), per_out(Ta, Ta), per_out(Tb, Tb)
    np.testing.assert_allclose(r.per_class, ab / np.sqrt(aa * bb), rtol=1e-9)
    assert r.similarity == pytest.approx(ab.sum() / np.sqrt(aa.sum() * bb.sum()), rel=1e-9)


def test_seq_net_forward_matches_the_module():
    m = attn_model(2, n_layers=2)
    x = torch.randn(3, 4, 2, dtype=torch.float64)
    np.testing.assert_allclose(to_seq_net(m, 4).forward(x), m(x).detach().numpy(), rtol=1e-10)


def _swap_scores(m, head):
    out = copy.deepcopy(m)
    for layer in out:
        if isinstance(layer, PolynomialAttention):
            e = layer.d_head
            rows = slice(head * e, (head + 1) * e)
            with torch.no_grad():
                for x, y in (("Q1", "Q2"), ("K1", "K2")):
                    wx, wy = getattr(layer, x).weight, getattr(layer, y).weight
                    tmp = wx[rows].clone()
                    wx[rows] = wy[rows]
                    wy[rows] = tmp
    return out


def _gauges(m, seed):
    """Head permutation, QK gauge Q -> M Q, K -> M^-T K, OV gauge, and a basis change of the
    stream between layers: the function is unchanged."""
    out = copy.deepcopy(m)
    g = torch.Generator().manual_seed(seed)

    def rand_inv(k):
        return torch.eye(k, dtype=torch.float64) + 0.4 * torch.randn(
            k, k, generator=g, dtype=torch.float64
        )

    with torch.no_grad():
        d = out[0].out_features
        B = rand_inv(d)
        Bi = torch.linalg.inv(B)
        for layer in out:
            if isinstance(layer, nn.Linear) and layer is out[0]:
                layer.weight.copy_(B @ layer.weight)
            elif isinstance(layer, nn.Linear):
                layer.weight.copy_(layer.weight @ Bi)
            else:
                h, e = layer.n_heads, layer.d_head
                for name in ("Q1", "K1", "Q2", "K2", "V"):
                    getattr(layer, name).weight.copy_(getattr(layer, name).weight @ Bi)
                layer.O.weight.copy_(B @ layer.O.weight)
                perm = torch.randperm(h, generator=g)
                for qk in (("Q1", "K1"), ("Q2", "K2")):
                    M = rand_inv(e)
                    q, k = (getattr(layer, x).weight.view(h, e, -1) for x in qk)
                    q.copy_(torch.einsum("ce,hea->hca", M, q))
                    k.copy_(torch.einsum("ce,hea->hca", torch.linalg.inv(M).T, k))
                M = rand_inv(e)
                v, o = layer.V.weight.view(h, e, -1), layer.O.weight.view(-1, h, e)
                v.copy_(torch.einsum("ce,hea->hca", M, v))
                o.copy_(torch.einsum("khe,ec->khc", o, torch.linalg.inv(M)))
                for name in ("Q1", "K1", "Q2", "K2", "V"):
                    w = getattr(layer, name).weight.view(h, e, -1)
                    w.copy_(w[perm])
                o.copy_(o[:, perm])
    return out


@given(seed=st.integers(0, 1000), n_layers=st.integers(1, 2), causal=st.booleans())
def test_symmetries_leave_similarity_at_one(seed, n_layers, causal):
    m = attn_model(seed, n_layers=n_layers, causal=causal)
    other = _gauges(_swap_scores(m, seed % 2), seed)
    x = torch.randn(2, 3, 2, dtype=torch.float64)
    torch.testing.assert_close(m(x), other(x))
    assert tensor_similarity(m, other, n_ctx=3, symmetrize="layer") == pytest.approx(1.0, abs=1e-6)
    perturbed = copy.deepcopy(m)
    with torch.no_grad():
        perturbed[1].V.weight.add_(0.5)
    assert tensor_similarity(m, perturbed, n_ctx=3, symmetrize="layer") < 1 - 1e-6


def test_score_swap_needs_symmetrisation():
    m = attn_model(5)
    other = _swap_scores(m, 0)
    assert tensor_similarity(m, other, n_ctx=3, symmetrize="layer") == pytest.approx(1.0, abs=1e-12)
    assert tensor_similarity(m, other, n_ctx=3, symmetrize="none") < 0.999


def test_over_training_and_errors():
    models = [attn_model(s) for s in range(3)]
    r = similarity_over_training(models, n_ctx=2, symmetrize="layer")
    want = tensor_similarity(models[0], models[1], n_ctx=2, symmetrize="layer")
    assert r.matrix[0, 1] == pytest.approx(want)
    with pytest.raises(MechequivError, match="not a same-function test"):
        tensor_similarity(models[0], models[1], n_ctx=2)  # the default "full" is refused
    with pytest.raises(MechequivError, match="pass n_ctx"):
        tensor_similarity(models[0], models[1])
    with pytest.raises(MechequivError, match="form='weight'"):
        tensor_similarity(models[0], models[1], n_ctx=2, form="gaussian")
    biased = nn.Sequential(nn.Linear(2, 3), PolynomialAttention(3, 1, 2))
    with pytest.raises(MechequivError, match="0 \\(Linear\\) has a bias"):
        to_seq_net(biased, 2)
    soft = nn.Sequential(nn.Linear(2, 3, bias=False), nn.Softmax(-1))
    with pytest.raises(MechequivError, match="1 \\(Softmax\\) is not tensor-based"):
        to_seq_net(soft, 2)
    with pytest.raises(ValueError, match="n_ctx must be >= 1"):
        to_seq_net(models[0], 0)
    with pytest.raises(ValueError, match="input widths differ"):
        tensor_similarity(models[0], attn_model(0, d_in=3), n_ctx=2, symmetrize="layer")
    with pytest.raises(ValueError, match="expected inputs of shape"):
        to_seq_net(models[0], 2).forward(np.zeros((1, 3, 2)))
