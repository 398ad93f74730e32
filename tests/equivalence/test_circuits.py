"""Components, the patching scan and resample-ablation implementations on hand-built networks."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from mechequiv.equivalence import (
    BehaviourCheck,
    Component,
    LayerReprs,
    PatchedModel,
    ResampleAblation,
    congruity,
    hidden_representations,
    neurons,
    scan_components,
)
from mechequiv.errors import MechequivError


def hand_built() -> nn.Sequential:
    """2 -> 4 -> 3: units 0, 1 drive the output; units 2, 3 are active but read by nothing."""
    net = nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 3))
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[3.0, 0.0], [0.0, 3.0], [1.0, 1.0], [1.0, -1.0]]))
        net[0].bias.copy_(torch.tensor([0.5, 0.5, 2.0, 2.0]))
        net[2].weight.copy_(
            torch.tensor([[2.0, -1.0, 0.0, 0.0], [-1.0, 2.0, 0.0, 0.0], [0.5, 0.5, 0.0, 0.0]])
        )
        net[2].bias.zero_()
    return net.eval()


@pytest.fixture
def stimuli():
    return torch.randn(120, 2, generator=torch.Generator().manual_seed(0))


def test_scan_finds_exactly_the_units_the_output_reads(stimuli):
    net = hand_built()
    comps = neurons(net, stimuli, "1")
    assert comps == [Component("1", i) for i in range(4)]
    with pytest.warns(DeprecationWarning, match="use discover_circuit"):
        scan = scan_components(net, stimuli, comps, threshold=1e-9)
    assert scan.scores[Component("1", 2)] == pytest.approx(0.0, abs=1e-12)
    assert scan.scores[Component("1", 3)] == pytest.approx(0.0, abs=1e-12)
    assert set(scan.circuit) == {Component("1", 0), Component("1", 1)}
    assert "2/4" in repr(scan)
    assert sorted(scan.to_dict()["circuit"]) == ["1[0]", "1[1]"]


def test_resample_ablation_keeps_behaviour_and_changes_the_rest(stimuli):
    net = hand_built()
    comps = neurons(net, stimuli, "1")
    sampler = ResampleAblation([Component("1", 0), Component("1", 1)], comps, stimuli)
    got = sampler.draw(net, np.random.default_rng(0))
    impl = got.model
    assert isinstance(impl, PatchedModel)
    assert torch.allclose(impl(stimuli), net(stimuli).detach(), atol=1e-6)
    r0, r1 = hidden_representations(net, stimuli), hidden_representations(impl, stimuli)
    assert torch.equal(r0[:, :2], r1[:, :2])  # circuit units untouched
    assert not torch.equal(r0[:, 2:], r1[:, 2:])  # the rest resampled
    assert got.rejected == 0 and got.stats["kl"] == pytest.approx(0, abs=1e-12)
    # every resampled row comes from another stimulus (a derangement)
    col = r1[:, 2]
    assert not torch.equal(col, r0[:, 2]) and torch.equal(col.sort().values, r0[:, 2].sort().values)


def test_model_against_itself_under_resample_ablation_scores_high(stimuli):
    net = hand_built()
    comps = neurons(net, stimuli, "1")
    sampler = ResampleAblation([Component("1", 0), Component("1", 1)], comps, stimuli)
    r = congruity(net, net, stimuli, n=10, sampler=sampler, distance="linear_cka")
    assert r.ci_high >= 0.99
    assert (r.rejected_1, r.rejected_2) == (0, 0)


def test_a_circuit_that_misses_a_component_is_refused(stimuli):
    net = hand_built()
    comps = neurons(net, stimuli, "1")
    sampler = ResampleAblation(
        [Component("1", 0)], comps, stimuli, check=BehaviourCheck(max_kl=1e-3), max_tries=3
    )
    with pytest.raises(MechequivError, match="could not preserve behaviour in 3 draws"):
        sampler.sample(net, np.random.default_rng(0))


def test_counterfactual_source_and_whole_module_components(stimuli):
    net = hand_built()
    source = stimuli.flip(0) * 0.5
    sampler = ResampleAblation([Component("0")], [Component("0"), Component("1")], stimuli, source=source,
                               check=BehaviourCheck(max_kl=10.0))  # fmt: skip
    impl = sampler.sample(net, np.random.default_rng(1))
    acts = LayerReprs(points=["1"])(impl, stimuli)
    assert acts.shape == (120, 4)


def test_bad_component_sets(stimuli):
    comps = neurons(hand_built(), stimuli, "1")
    with pytest.raises(ValueError, match="not among the candidates"):
        ResampleAblation([Component("9", 0)], comps, stimuli)
    with pytest.raises(ValueError, match="nothing to resample"):
        ResampleAblation(comps, comps, stimuli)
    with pytest.raises(ValueError, match="no components"), pytest.warns(DeprecationWarning):
        scan_components(hand_built(), stimuli, [])
    with pytest.raises(ValueError, match="nearest"):
        neurons(hand_built(), stimuli, "nope")
