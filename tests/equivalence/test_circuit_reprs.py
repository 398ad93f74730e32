"""CircuitReprs (GetReprs of a circuit's own nodes), OnePointSet and circuit_sampler."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

from mechequiv.equivalence import (
    CircuitReprs,
    Component,
    LayerReprs,
    OnePointSet,
    PatchedModel,
    ResampleAblation,
    circuit_congruity_setup,
    circuit_sampler,
    congruity,
    discover_circuit,
    discover_congruity_circuit,
)
from tests.equivalence.circuit_models import SideBranch


def _circuit(model: SideBranch, x: torch.Tensor):
    comps = [Component("act_a")] + ([Component("act_side")] if model.has_side else [])
    return discover_circuit(model, x, comps)


@pytest.fixture(scope="module")
def x() -> torch.Tensor:
    return torch.randn(96, 4, generator=torch.Generator().manual_seed(0))


def test_reads_the_node_slices_in_circuit_order(x):
    m = SideBranch(0)
    got = CircuitReprs({m: [Component("act_a"), Component("act_side", 2)]}, scale="none")(m, x)
    with torch.no_grad():
        want = torch.cat([torch.relu(m.a(x)), torch.tanh(m.side(x))[:, 2:3]], dim=1)
    assert got.dtype == torch.float64
    torch.testing.assert_close(got, want.double())


def test_unread_component_resampled_leaves_it_unchanged_but_moves_the_full_stream(x):
    m = SideBranch(0)
    circuit = _circuit(m, x)
    assert circuit.nodes == (Component("act_a"),)  # the side branch is found irrelevant
    impl = ResampleAblation(circuit, inputs=x).sample(m, np.random.default_rng(0))
    assert isinstance(impl, PatchedModel)
    reprs = CircuitReprs({m: circuit})
    torch.testing.assert_close(reprs(impl, x), reprs(m, x), rtol=0, atol=0)
    full = LayerReprs(points=["act_a", "act_side"])
    assert float((full(impl, x) - full(m, x)).abs().max()) > 0.1


def test_side_computation_pair_not_flagged_and_a_different_circuit_is(x):
    """The distractor pair: the same circuit with and without an unread side computation.
    With the whole representation it is flagged (one direction always closer); with the
    circuit's own nodes it is not. A model with other circuit weights stays distinguishable."""
    with_side, without = SideBranch(0), SideBranch(0, side=False)
    other = SideBranch(1)
    circuits = {m: _circuit(m, x) for m in (with_side, without, other)}
    assert isinstance(circuit_sampler(circuits[without], x), OnePointSet)  # its only component
    samplers, reprs = circuit_congruity_setup(
        [with_side, without], [circuits[with_side], circuits[without]], x
    )
    same = congruity(with_side, without, x, n=12, sampler=samplers, reprs=reprs, progress=False)
    assert same.score == 1.0 and not same.distinguishable
    full = congruity(with_side, without, x, n=12, sampler=samplers, progress=False,
                     reprs=lambda m, z: _full(m, z))  # fmt: skip
    assert full.distinguishable and full.discordant
    samplers, reprs = circuit_congruity_setup(
        [with_side, other], [circuits[with_side], circuits[other]], x
    )
    diff = congruity(with_side, other, x, n=12, sampler=samplers, reprs=reprs, progress=False)
    assert diff.distinguishable and diff.score == 0.0


def _full(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    base = model.model if isinstance(model, PatchedModel) else model
    points = ["act_a", "act_side"] if base.has_side else ["act_a"]
    return LayerReprs(points=points)(model, x)


class Seq(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin, self.act = nn.Linear(3, 4), nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.lin(x))


@pytest.mark.parametrize(
    "tokens,shape", [("all", (10 * 7, 2)), ("last", (10, 2)), ("concat", (10, 14))]
)
def test_token_policy_on_unit_slices_of_sequences(tokens, shape):
    m = Seq()
    x = torch.randn(10, 7, 3)
    got = CircuitReprs(
        {m: [Component("act", 1), Component("act", 3)]}, tokens=tokens, scale="none"
    )(m, x)
    assert tuple(got.shape) == shape
    with torch.no_grad():
        h = torch.relu(m.lin(x))[..., [1, 3]]
    # "concat": each node's positions in turn (node after node)
    want = {"all": h.reshape(-1, 2), "last": h[:, -1],
            "concat": torch.cat([h[..., 0], h[..., 1]], dim=1)}[tokens]  # fmt: skip
    torch.testing.assert_close(got, want.double())


def test_refusals():
    m = SideBranch(0)
    with pytest.raises(ValueError, match="non-empty mapping"):
        CircuitReprs({})
    with pytest.raises(ValueError, match="no node"):
        CircuitReprs({m: []})
    with pytest.raises(TypeError, match="torch modules"):
        CircuitReprs({"m": [Component("act_a")]})
    with pytest.raises(TypeError, match="Components"):
        CircuitReprs({m: ["act_a"]})
    with pytest.raises(ValueError, match="no circuit for this SideBranch"):
        CircuitReprs({m: [Component("act_a")]})(SideBranch(1), torch.zeros(2, 4))
    with pytest.raises(TypeError, match="must be a Circuit"):
        circuit_sampler([Component("act_a")], torch.zeros(2, 4))
    with pytest.raises(ValueError, match="2 models but 1 circuits"):
        circuit_congruity_setup([m, m], [None], torch.zeros(2, 4))


def test_one_point_set(x):
    m = SideBranch(0, side=False)
    d = OnePointSet().draw(m, np.random.default_rng(0))
    assert d.model is not m and d.rejected == 0
    torch.testing.assert_close(d.model(x), m(x), rtol=0, atol=0)
    copy_ = copy.deepcopy(m)
    one = (OnePointSet(), OnePointSet())
    same = congruity(m, copy_, x, n=10, sampler=one, reprs=LayerReprs(points=["act_a"]),
                     progress=False)  # fmt: skip
    assert same.score == 1.0 and not same.distinguishable
    # another network: its own (only) implementation is always closer
    other = SideBranch(3, side=False)
    diff = congruity(m, other, x, n=10, sampler=one, reprs=LayerReprs(points=["act_a"]),
                     progress=False)  # fmt: skip
    assert diff.score == 0.0 and diff.p_value < 0.01


@pytest.mark.slow  # compiles three RASP programs with Tracr and discovers four circuits
def test_tracr_distractor_pair_not_flagged_and_other_program_separated():
    """Compiled ground truth: sort next to an unread max (block-diagonal, MLPs of a layer merged)
    against sort alone is the same mechanism; sort_alt (same function, other program) is not.
    Circuits over heads and MLP units, found on the models alone by discover_congruity_circuit
    (KL to the model's own output, what the resampling's behaviour check bounds)."""
    pytest.importorskip("tracr")
    from mechequiv.zoo.tracr import compile_program, with_distractor
    from mechequiv.zoo.tracr_pairs import all_sequences, program

    sort, other, alt = (compile_program(program(n)) for n in ("sort", "max", "sort_alt"))
    both = with_distractor(sort, other)
    seqs = all_sequences(program("sort").vocab, 5, True)
    x = sort.model.encode(seqs)[np.random.default_rng(1).choice(len(seqs), 96, replace=False)]

    def run(a: nn.Module, b: nn.Module):
        circuits = [discover_congruity_circuit(m, x) for m in (a, b)]
        samplers, reprs = circuit_congruity_setup([a, b], circuits, x, tokens="all")
        return congruity(a, b, x, n=8, sampler=samplers, reprs=reprs, progress=False)

    same = run(sort.model, both.model)
    assert not same.distinguishable and same.score == 1.0
    diff = run(sort.model, alt.model)
    assert diff.distinguishable and diff.score == 0.0


def test_discover_congruity_circuit_metric_follows_the_output(x):
    """KL to the model's own output for classifiers; mse for one output, where a softmax KL is
    identically 0 and the search would have nothing to go on."""
    comps = [Component("act_a"), Component("act_side")]
    m = SideBranch(0)
    circ = discover_congruity_circuit(m, x, comps)
    assert circ.metric.startswith("kl") and circ.nodes == (Component("act_a"),)
    assert circ.faithfulness >= 0.999
    m.out = nn.Linear(6, 1)
    circ = discover_congruity_circuit(m, x, comps)
    assert circ.metric.startswith("mse") and circ.nodes == (Component("act_a"),)
