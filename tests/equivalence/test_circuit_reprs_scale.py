"""CircuitReprs(scale="node"): an exactly rescaled copy (per-unit scale of a ReLU layer, undone
by the readout) is the same circuit; a resampled implementation is read at its base model's
scale, so a change of magnitude stays visible."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mechequiv.equivalence import (
    CircuitReprs,
    Component,
    PatchedModel,
    circuit_congruity_setup,
    congruity,
    discover_congruity_circuit,
    neurons,
)
from tests.equivalence.circuit_models import random_mlp, rescaled_units, with_unread_units


@pytest.fixture(scope="module")
def x() -> torch.Tensor:
    return torch.randn(128, 4, generator=torch.Generator().manual_seed(0))


def _congruity(a, b, x, scale):
    circuits = [discover_congruity_circuit(m, x, neurons(m, x, "1")) for m in (a, b)]
    samplers, reprs = circuit_congruity_setup((a, b), circuits, x)
    reprs = CircuitReprs(dict(zip((a, b), circuits, strict=True)), scale=scale)
    return congruity(a, b, x, n=20, sampler=samplers, reprs=reprs, progress=False)


def test_a_rescaled_copy_is_not_flagged_and_raw_outputs_would_flag_it(x):
    a = with_unread_units(random_mlp(0))
    b = rescaled_units(a)
    torch.testing.assert_close(b(x), a(x), rtol=1e-5, atol=1e-5)
    kept = discover_congruity_circuit(b, x, neurons(b, x, "1")).nodes
    assert kept == tuple(Component("1", u) for u in range(6))  # the unread units stay outside
    node = _congruity(a, b, x, "node")
    assert not node.distinguishable and node.score == pytest.approx(1.0)
    raw = _congruity(a, b, x, "none")
    assert raw.distinguishable


def test_rescaled_copy_reads_the_same_node_features(x):
    a = random_mlp(0)
    b = rescaled_units(a)
    nodes = [Component("1", u) for u in range(6)]
    ra = CircuitReprs({a: nodes}, scale="node")(a, x)
    rb = CircuitReprs({b: nodes}, scale="node")(b, x)
    # one overall scale per node: unit i of b is c_i times unit i of a, both divided by their RMS
    torch.testing.assert_close(rb, ra, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(
        CircuitReprs({b: nodes}, scale="none")(b, x), CircuitReprs({a: nodes}, scale="none")(a, x)
    )


def test_an_implementation_is_divided_by_its_base_models_scale(x):
    a = random_mlp(0)
    nodes = [Component("1", 0)]
    reprs = CircuitReprs({a: nodes}, scale="node")
    halved = PatchedModel(a, {"1": lambda act: act * 0.5})
    got, base = reprs(halved, x), reprs(a, x)
    torch.testing.assert_close(got, 0.5 * base)  # not renormalised to unit scale
    raw = CircuitReprs({a: nodes}, scale="none")
    rms = float((raw(a, x) - raw(a, x).mean(0)).square().mean().sqrt())
    torch.testing.assert_close(base, raw(a, x) / rms)
    assert np.isclose(float((base - base.mean(0)).square().mean().sqrt()), 1.0)


def test_a_constant_node_keeps_scale_one_and_bad_scale_is_refused(x):
    a = random_mlp(0)
    with torch.no_grad():
        a[0].weight[2].zero_()
        a[0].bias[2] = 3.0  # unit 2 is 3 on every input
    nodes = [Component("1", 2)]
    got = CircuitReprs({a: nodes}, scale="node")(a, x)
    torch.testing.assert_close(got, torch.full_like(got, 3.0))
    with pytest.raises(ValueError, match="scale must be 'node' or 'none'"):
        CircuitReprs({a: nodes}, scale="unit")
