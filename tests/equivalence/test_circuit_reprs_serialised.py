"""CircuitReprs recognises copies of its models (pickle, deepcopy, Ray arguments) by their
structure and weights, never by ``id()``; unknown and ambiguous models are refused; its
description (the resume check of congruity_matrix) names the circuits it reads."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest
import torch
from torch import nn

from mechequiv.equivalence import (
    CircuitReprs,
    Component,
    OnePointSet,
    PatchedModel,
    ResampleAblation,
    congruity_matrix,
    model_fingerprint,
)
from tests.equivalence.circuit_models import SideBranch

A, SIDE2 = Component("act_a"), Component("act_side", 2)


def roundtrip(obj):
    return pickle.loads(pickle.dumps(obj))


@pytest.fixture
def x() -> torch.Tensor:
    return torch.randn(32, 4, generator=torch.Generator().manual_seed(0))


def test_a_copy_is_read_at_its_originals_circuit_and_so_is_its_patched_implementation(x):
    m0, m1 = SideBranch(0), SideBranch(1)
    reprs = CircuitReprs({m0: [A], m1: [A, SIDE2]}, scale="none")  # raw values to compare
    c0, c1 = roundtrip(m0), roundtrip(m1)
    assert c0 is not m0
    torch.testing.assert_close(reprs(c0, x), reprs(m0, x), rtol=0, atol=0)
    torch.testing.assert_close(reprs(c1, x), reprs(m1, x), rtol=0, atol=0)
    assert reprs(c1, x).shape == (32, 7) and reprs(c0, x).shape == (32, 6)
    # a patched implementation of the copy: its base's node (act_a) read live, patches applied
    value = torch.randn(32, 6, generator=torch.Generator().manual_seed(1))
    impl = PatchedModel(c0, {"a": value})
    torch.testing.assert_close(reprs(impl, x), torch.relu(value).double(), rtol=0, atol=0)
    # a resample-ablation draw on the copy equals the same draw on the original
    sampler = ResampleAblation([A], components=[A, Component("act_side")], inputs=x)
    on_copy = sampler.sample(c0, np.random.default_rng(3))
    on_original = sampler.sample(m0, np.random.default_rng(3))
    assert on_copy.model is c0
    torch.testing.assert_close(reprs(on_copy, x), reprs(on_original, x), rtol=0, atol=0)
    # and the side model's draw keeps its own two nodes
    impl1 = PatchedModel(c1, {})
    torch.testing.assert_close(reprs(impl1, x), reprs(m1, x), rtol=0, atol=0)


def test_reprs_serialised_alone_reads_the_original_models(x):
    m0, m1 = SideBranch(0), SideBranch(1)
    reprs = CircuitReprs({m0: [A], m1: [A, SIDE2]})
    moved = roundtrip(reprs)
    for m in (m0, m1, copy.deepcopy(m1)):
        torch.testing.assert_close(moved(m, x), reprs(m, x), rtol=0, atol=0)


def test_unknown_changed_and_ambiguous_models_are_refused(x):
    m = SideBranch(0)
    reprs = CircuitReprs({m: [A]})
    with pytest.raises(ValueError, match=r"^CircuitReprs has no circuit for this SideBranch"):
        reprs(SideBranch(1), x)
    changed = roundtrip(m)
    with torch.no_grad():  # one weight moved by one ulp: another model
        changed.a.weight[0, 0] = torch.nextafter(changed.a.weight[0, 0], torch.tensor(9.0))
    with pytest.raises(ValueError, match="no circuit for this SideBranch"):
        reprs(changed, x)
    # two equal models given different circuits: each object is read at its own, a copy is
    # ambiguous and refused rather than read at either
    twin = copy.deepcopy(m)
    both = CircuitReprs({m: [A], twin: [SIDE2]})
    assert both(m, x).shape == (32, 6) and both(twin, x).shape == (32, 1)
    with pytest.raises(ValueError, match="ambiguous") as err:
        both(roundtrip(m), x)
    assert "\n" not in str(err.value)
    # equal models with the same circuit: a copy is read at it
    same = CircuitReprs({m: [A], twin: [A]})
    torch.testing.assert_close(same(roundtrip(twin), x), same(m, x), rtol=0, atol=0)


def test_model_fingerprint():
    m = SideBranch(0)
    key = model_fingerprint(m)
    assert key == model_fingerprint(copy.deepcopy(m)) == model_fingerprint(roundtrip(m))
    assert key != model_fingerprint(SideBranch(1))
    assert key != model_fingerprint(copy.deepcopy(m).to(torch.float64))
    assert model_fingerprint(copy.deepcopy(m).to(torch.bfloat16)) not in (key, "")
    renamed = nn.Sequential(m.a, m.act_a, m.side, m.act_side, m.out)  # same tensors, other names
    assert key != model_fingerprint(renamed)
    bn = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    before = model_fingerprint(bn)
    bn[1].running_mean += 1  # a buffer is state too
    assert model_fingerprint(bn) != before


def test_description_names_the_circuits_and_guards_a_resume(x, tmp_path):
    m0, m1 = SideBranch(0), SideBranch(1)
    reprs = CircuitReprs({m0: [A], m1: [A, SIDE2]})
    # the same in another process: copies of the models, the mapping in another order
    rebuilt = CircuitReprs({roundtrip(m1): [A, SIDE2], roundtrip(m0): [A]})
    assert repr(rebuilt) != repr(reprs)  # node counts are listed in the mapping's order ...
    assert repr(rebuilt).split("key=")[1] == repr(reprs).split("key=")[1]  # ... the key is not
    assert repr(roundtrip(reprs)) == repr(reprs)
    # another circuit of the same size is another description
    other = CircuitReprs({m0: [A], m1: [A, Component("act_side", 3)]})
    assert repr(other) != repr(reprs)
    kw = {"n": 4, "n_boot": 50, "sampler": OnePointSet(), "progress": False}
    path = str(tmp_path / "r.json")
    first = congruity_matrix([m0, m1], x, reprs=reprs, results_path=path, **kw)
    resumed = congruity_matrix([roundtrip(m0), roundtrip(m1)], x, reprs=roundtrip(reprs),
                               results_path=path, **kw)  # fmt: skip
    assert resumed.to_dict() == first.to_dict()
    with pytest.raises(ValueError, match="other settings"):
        congruity_matrix([m0, m1], x, reprs=other, results_path=path, **kw)
