"""`compare_models(..., sampler="circuit-reprs")`: the fixed label-free configuration of the
validity benchmarks (discover_congruity_circuit, resample ablation outside it, CircuitReprs)."""

from __future__ import annotations

import pytest
import torch

from mechequiv.study import compare_models
from tests.equivalence.circuit_models import random_mlp, with_unread_units


@pytest.fixture(scope="module")
def x() -> torch.Tensor:
    return torch.randn(128, 4, generator=torch.Generator().manual_seed(0))


def test_unread_units_are_outside_the_circuit_and_the_pair_is_not_flagged(x):
    a = random_mlp(0)
    b = with_unread_units(a)  # a's function with 3 more units that nothing reads
    result = compare_models(a, b, x, n=20, sampler="circuit-reprs", measures=["linear_cka"])
    assert result.errors == {}
    # a's circuit is all of a (one point); b's leaves the unread units to resample
    assert result.sampler == "OnePointSet (a) / ResampleAblation (b) (sampler=circuit-reprs)"
    c = result.congruity
    assert not c.distinguishable
    assert c.score == pytest.approx(1.0)


def test_a_different_network_is_distinguishable(x):
    result = compare_models(
        random_mlp(0), random_mlp(1), x, n=20, sampler="circuit-reprs", measures=[]
    )
    c = result.congruity
    assert c.distinguishable
    assert c.score == pytest.approx(0.0)
    assert c.p_value < 1e-4
