"""SymmetryTransform on the zoo's residual models: function preserved exactly, weights changed,
the implementation distribution blind to a prior transform, LayerNorm refused."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mechequiv.equivalence import SymmetryTransform, congruity
from mechequiv.zoo.models._bilinear import BilinearMLP
from mechequiv.zoo.models._transformer import TokenTransformer


def transformer(seed: int, layer_norm: bool = False, alpha: float = 1.0) -> TokenTransformer:
    torch.manual_seed(seed)
    return TokenTransformer(11, 3, 7, d_model=16, n_heads=4, n_layers=2, alpha=alpha,
                            layer_norm=layer_norm).double().eval()  # fmt: skip


def bilinear(seed: int, bias: bool) -> BilinearMLP:
    torch.manual_seed(seed)
    return BilinearMLP(6, 8, 10, 4, n_layers=2, bias=bias).double().eval()


TOKENS = torch.randint(0, 11, (64, 3), generator=torch.Generator().manual_seed(0))
FEATURES = torch.randn(64, 6, generator=torch.Generator().manual_seed(0), dtype=torch.double)


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), alpha=st.sampled_from([0.0, 0.5, 1.0]))
def test_transformer_function_is_preserved_and_weights_change(seed, alpha):
    model = transformer(1, alpha=alpha)
    new = SymmetryTransform().sample(model, np.random.default_rng(seed))
    assert torch.allclose(new(TOKENS), model(TOKENS), atol=1e-10)
    assert not torch.allclose(new.embed.weight, model.embed.weight)
    assert not torch.allclose(new.blocks[0].mlp.fc_in.weight, model.blocks[0].mlp.fc_in.weight)


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), bias=st.booleans())
def test_bilinear_function_is_preserved_and_weights_change(seed, bias):
    model = bilinear(2, bias)
    new = SymmetryTransform().sample(model, np.random.default_rng(seed))
    assert torch.allclose(new(FEATURES), model(FEATURES), atol=1e-10)
    assert not torch.allclose(new.blocks[0].L.weight, model.blocks[0].L.weight)


def test_a_transformed_copy_scores_about_one_and_another_seed_does_not():
    model = transformer(3)
    copy = SymmetryTransform().sample(model, np.random.default_rng(9))
    same = congruity(model, copy, TOKENS, n=12, sampler=SymmetryTransform())
    assert same.score == pytest.approx(1.0, abs=1e-9)
    other = congruity(model, transformer(4), TOKENS, n=12, sampler=SymmetryTransform())
    assert other.score < 0.2


def test_layer_norm_and_foreign_layouts_are_refused():
    with pytest.raises(TypeError, match="LayerNorm"):
        SymmetryTransform().sample(transformer(0, layer_norm=True), np.random.default_rng(0))
    plain = BilinearMLP(6, 8, 10, 4, residual=False)
    with pytest.raises(TypeError, match="residual"):
        SymmetryTransform().sample(plain, np.random.default_rng(0))
