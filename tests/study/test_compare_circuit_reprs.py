"""`compare_models(..., sampler="circuit-reprs")`: the fixed label-free configuration of the
validity benchmarks (discover_congruity_circuit, resample ablation outside it, CircuitReprs)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mechequiv.study import compare_models


def net(seed: int, unread: int = 0) -> nn.Sequential:
    """A random 4-6-3 ReLU MLP; ``unread`` extra hidden units that vary with the input but
    whose readout weights are zero (a side computation nothing reads)."""
    g = torch.Generator().manual_seed(seed)
    m = nn.Sequential(nn.Linear(4, 6 + unread), nn.ReLU(), nn.Linear(6 + unread, 3))
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(torch.randn(p.shape, generator=g))
        m[2].weight[:, 6:].zero_()
    return m


@pytest.fixture(scope="module")
def x() -> torch.Tensor:
    return torch.randn(128, 4, generator=torch.Generator().manual_seed(0))


def test_unread_units_are_outside_the_circuit_and_the_pair_is_not_flagged(x):
    a = net(0)
    b = net(0, unread=3)
    with torch.no_grad():  # b computes a's function with 3 more units that nothing reads
        b[0].weight[:6].copy_(a[0].weight)
        b[0].bias[:6].copy_(a[0].bias)
        b[2].weight[:, :6].copy_(a[2].weight)
        b[2].bias.copy_(a[2].bias)
    result = compare_models(a, b, x, n=20, sampler="circuit-reprs", measures=["linear_cka"])
    assert result.errors == {}
    # a's circuit is all of a (one point); b's leaves the unread units to resample
    assert result.sampler == "OnePointSet (a) / ResampleAblation (b) (sampler=circuit-reprs)"
    c = result.congruity
    assert not c.distinguishable
    assert c.score == pytest.approx(1.0)


def test_a_different_network_is_distinguishable(x):
    result = compare_models(net(0), net(1), x, n=20, sampler="circuit-reprs", measures=[])
    c = result.congruity
    assert c.distinguishable
    assert c.score == pytest.approx(0.0)
    assert c.p_value < 1e-4
