"""Similarity 1 under function-preserving reparameterisations, below 1 under real changes."""

from __future__ import annotations

import copy

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from mechequiv.tensorsim import tensor_similarity
from tests.tensorsim.conftest import change_basis, move_scale, permute_hidden, random_mlp, swap_lr

models = st.builds(
    random_mlp,
    seed=st.integers(0, 10_000),
    d_in=st.integers(1, 4),
    d_model=st.integers(1, 4),
    d_hidden=st.integers(1, 5),
    d_out=st.integers(1, 3),
    n_layers=st.integers(0, 3),
    residual=st.booleans(),
    bias=st.booleans(),
)
TRANSFORMS = [permute_hidden, move_scale, swap_lr, change_basis]


def _same_function(a, b) -> None:
    x = torch.randn(8, a.embed.in_features, dtype=torch.float64)
    torch.testing.assert_close(a(x), b(x), rtol=1e-8, atol=1e-9)


@pytest.mark.parametrize("transform", TRANSFORMS, ids=lambda f: f.__name__)
@given(model=models, seed=st.integers(0, 1000))
def test_symmetry_leaves_similarity_at_one(transform, model, seed):
    other = transform(model, seed)
    _same_function(model, other)
    assert tensor_similarity(model, other) == pytest.approx(1.0, abs=1e-6)
    pc = tensor_similarity(model, other, per_class=True)
    assert pc == pytest.approx([1.0] * len(pc), abs=1e-6, nan_ok=True)


@given(model=models, seed=st.integers(0, 1000))
def test_all_symmetries_composed(model, seed):
    other = change_basis(swap_lr(move_scale(permute_hidden(model, seed), seed), seed), seed)
    assert tensor_similarity(model, other) == pytest.approx(1.0, abs=1e-6)


@given(model=models, seed=st.integers(0, 1000), which=st.integers(0, 100))
def test_function_changing_perturbation_lowers_similarity(model, seed, which):
    other = copy.deepcopy(model)
    params = [p for p in other.parameters() if p.numel()]
    p = params[which % len(params)]
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        p.add_(torch.randn(p.shape, generator=g, dtype=torch.float64))
    x = torch.randn(16, model.embed.in_features, dtype=torch.float64, generator=g)
    ya, yb = model(x).detach(), other(x).detach()
    # Changed function, not just a positive rescaling of it: the cosine must drop strictly below
    # 1, beyond float64 noise. The margin is not the sample cosine's: the tensor inner product
    # weighs polynomial coefficients differently from 16 sample points (a degree-8 polynomial in
    # one variable can move 1e-6 on the samples and 3e-7 in the tensor norm), so only "strictly
    # below 1" is the invariant.
    cos = (ya * yb).sum() / (ya.norm() * yb.norm())
    if float(cos) > 1 - 1e-6:
        return
    assert tensor_similarity(model, other) < 1 - 1e-10


def test_swapping_l_and_r_is_visible_without_symmetrisation():
    model = random_mlp(0, n_layers=1, residual=False)
    other = swap_lr(model, 1)
    assert tensor_similarity(model, other, symmetrize="layer") == pytest.approx(1.0, abs=1e-12)
    assert tensor_similarity(model, other, symmetrize="none") < 0.99


def test_negative_output_scale_gives_minus_one():
    model = random_mlp(0)
    other = copy.deepcopy(model)
    with torch.no_grad():
        other.unembed.weight.mul_(-2.0)
    assert tensor_similarity(model, other) == pytest.approx(-1.0, abs=1e-12)
