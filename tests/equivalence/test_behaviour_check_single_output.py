"""BehaviourCheck on models with one output: a softmax over one logit is always 1, so the KL is
always 0; the check must still reject draws that change the output (relative MSE)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from mechequiv.equivalence import BehaviourCheck, Component, ResampleAblation, neurons
from mechequiv.errors import MechequivError


def one_output() -> nn.Sequential:
    """2 -> 3 -> 1: unit 0 carries x0, unit 1 carries x1, unit 2 is read by nothing."""
    net = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]))
        net[0].bias.fill_(3.0)  # every unit active on these stimuli
        net[2].weight.copy_(torch.tensor([[1.0, 2.0, 0.0]]))
        net[2].bias.zero_()
    return net.eval()


@pytest.fixture
def stimuli() -> torch.Tensor:
    return torch.randn(200, 2, generator=torch.Generator().manual_seed(0)).clamp(-2.5, 2.5)


def test_kl_alone_cannot_see_a_changed_single_output() -> None:
    clean = torch.linspace(-1, 1, 50)[:, None]
    check = BehaviourCheck()
    stats = check.measure(clean, -clean)
    assert stats["kl"] == 0.0  # why the KL check alone is vacuous here
    assert stats["relative_mse"] == pytest.approx(4.0)  # (2 x)^2 / var(x) with mean 0
    assert not check.passes(stats)
    same = check.measure(clean, clean + 1e-4)
    assert check.passes(same) and same["relative_mse"] < 1e-6


def test_multi_output_stats_are_unchanged() -> None:
    logits = torch.randn(30, 4, generator=torch.Generator().manual_seed(1))
    stats = BehaviourCheck().measure(logits, logits)
    assert set(stats) == {"kl"}


def test_resample_ablation_refuses_a_circuit_missing_a_unit_of_a_single_output(stimuli) -> None:
    net = one_output()
    comps = neurons(net, stimuli, "1")
    keeps_both = ResampleAblation([Component("1", 0), Component("1", 1)], comps, stimuli)
    draw = keeps_both.draw(net, np.random.default_rng(0))
    assert draw.stats["relative_mse"] == pytest.approx(0.0, abs=1e-12)
    misses_one = ResampleAblation([Component("1", 0)], comps, stimuli, max_tries=3)
    with pytest.raises(MechequivError, match=r"relative MSE 0\.05"):
        misses_one.sample(net, np.random.default_rng(0))


@pytest.mark.parametrize("field", ["max_kl", "max_accuracy_drop", "max_relative_mse"])
@pytest.mark.parametrize("bad", [-0.1, float("nan"), "0.05"])
def test_bounds_must_be_numbers_at_least_zero(field: str, bad: object) -> None:
    with pytest.raises(ValueError, match=f"BehaviourCheck.{field} must be a number >= 0"):
        BehaviourCheck(**{field: bad})
