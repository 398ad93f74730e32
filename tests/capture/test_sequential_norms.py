"""Symmetries of the nn.Sequential MLPs researchers write: LayerNorm / BatchNorm1d over a
layer's units, dropout, two activations in a row, a softmax after the output layer."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from mechequiv.capture import UnsupportedModelError, symmetries
from mechequiv.capture.protocol import Neurons
from mechequiv.equivalence import SymmetryTransform
from mechequiv.study import compare_models


def _ln_mlp(seed: int) -> nn.Sequential:
    torch.manual_seed(seed)
    net = nn.Sequential(
        nn.Linear(5, 12), nn.LayerNorm(12), nn.GELU(),
        nn.Linear(12, 10), nn.BatchNorm1d(10), nn.ReLU(), nn.Dropout(0.2),
        nn.Linear(10, 8), nn.Tanh(),
        nn.Linear(8, 3), nn.LogSoftmax(-1),
    )  # fmt: skip
    with torch.no_grad():  # non-trivial norm parameters and running statistics
        for m in net:
            if isinstance(m, nn.LayerNorm | nn.BatchNorm1d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)
            if isinstance(m, nn.BatchNorm1d):
                m.running_mean.uniform_(-1, 1)
                m.running_var.uniform_(0.5, 2)
    return net.double().eval()


def test_norm_layers_permute_only_and_plain_layers_keep_their_symmetries() -> None:
    units = symmetries(_ln_mlp(0)).units
    assert all(isinstance(u, Neurons) for u in units)
    # LayerNorm + GELU, BatchNorm + ReLU: permutations only; Tanh alone: sign flips, no scaling
    assert [(u.width, u.scale, u.sign) for u in units] == [
        (12, False, False),
        (10, False, False),
        (8, False, True),
    ]
    relu = nn.Sequential(nn.Linear(3, 4), nn.Dropout(0.1), nn.ReLU(), nn.Linear(4, 2))
    assert [(u.scale, u.sign) for u in symmetries(relu).units] == [(True, False)]


def test_transformed_copies_compute_the_same_function_with_other_weights() -> None:
    net = _ln_mlp(0)
    x = torch.randn(64, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    sampler = SymmetryTransform()
    for seed in range(3):
        copy = sampler.sample(net, np.random.default_rng(seed))
        torch.testing.assert_close(copy(x), net(x), rtol=0, atol=1e-12)
        # the LayerNorm's parameters moved with the units (a permutation, not the identity)
        assert not torch.equal(copy[1].weight, net[1].weight)
        assert torch.equal(copy[1].weight.sort().values, net[1].weight.sort().values)


@pytest.mark.parametrize(
    ("net", "message"),
    [
        (nn.Sequential(nn.Linear(3, 4), nn.Softmax(-1), nn.Linear(4, 2)), r"layer 1 \(Softmax\)"),
        (
            nn.Sequential(nn.Linear(3, 4), nn.LayerNorm(3), nn.Linear(4, 2)),
            r"layer 1 \(LayerNorm\) normalises shape \(3,\), not the 4 units",
        ),
    ],
)
def test_modules_that_mix_units_are_refused_by_name(net: nn.Sequential, message: str) -> None:
    with pytest.raises(UnsupportedModelError, match=message):
        symmetries(net)


def test_symmetry_congruity_on_a_layernorm_mlp_and_its_permuted_copy() -> None:
    a, other = _ln_mlp(0), _ln_mlp(1)
    copy = SymmetryTransform(rescale=False, flip_signs=False).sample(a, np.random.default_rng(7))
    x = torch.randn(80, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    same = compare_models(a, copy, x, sampler="symmetry", n=8, measures=["linear_cka"])
    diff = compare_models(a, other, x, sampler="symmetry", n=8, measures=["linear_cka"])
    assert not same.errors and not diff.errors
    assert same.congruity.score == 1.0 and not same.congruity.distinguishable
    assert diff.congruity.score == 0.0 and diff.congruity.distinguishable
