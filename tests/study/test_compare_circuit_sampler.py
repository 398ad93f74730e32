"""`compare_models(..., sampler="circuit")`: discover_circuit + ResampleAblation(circuit), and
the two ways it can fail recorded as the congruity part's own error (the measures are kept)."""

from __future__ import annotations

import torch
from torch import nn

from mechequiv.study import compare_models


def dense(seed: int, readout: float = 5.0) -> nn.Sequential:
    """Hidden unit i is class i's logit times ``readout``: every unit is needed."""
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Linear(4, 3), nn.Tanh(), nn.Linear(3, 3))
    with torch.no_grad():
        net[2].weight.copy_(readout * torch.eye(3))
        net[2].bias.copy_(torch.tensor([0.0, 1.0, 2.0]))
    return net


def test_no_sparse_circuit_is_the_congruity_error_and_the_measures_stay():
    # No unit can go without losing more than 0.05 faithfulness: nothing is left to resample.
    x = torch.randn(64, 4, generator=torch.Generator().manual_seed(0))
    result = compare_models(dense(0), dense(1), x, n=2, sampler="circuit", measures=["linear_cka"])
    assert result.congruity is None
    assert "the circuit holds every component" in result.errors["congruity"]
    assert result.representational["linear_cka"] > 0


def test_a_metric_the_counterfactual_cannot_move_is_the_congruity_error():
    # the output ignores the hidden units: no ablation can move the margin
    x = torch.randn(32, 4, generator=torch.Generator().manual_seed(0))
    a, b = dense(0, readout=0.0), dense(1, readout=0.0)
    result = compare_models(a, b, x, n=2, sampler="circuit", measures=["linear_cka"])
    assert result.congruity is None
    assert "does not move when every candidate component is ablated" in result.errors["congruity"]
    assert result.representational["linear_cka"] > 0
