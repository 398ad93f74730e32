"""Circuit discovery against compiled Tracr ground truth and hand-built networks."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from mechequiv.equivalence import (
    BehaviourCheck,
    BehaviourMetric,
    Circuit,
    Component,
    ResampleAblation,
    discover_circuit,
    neurons,
    scan_components,
    transformer_components,
)
from mechequiv.errors import MechequivError

tracr = pytest.importorskip("tracr")

from mechequiv.zoo.rasp_programs import PROGRAMS  # noqa: E402
from mechequiv.zoo.tracr import compile_program, with_distractor  # noqa: E402

AFTER_BOS = BehaviourMetric(positions=slice(1, None))


def truth(compiled) -> set[str]:
    gt = compiled.ground_truth
    return {f"blocks.{layer}.attn.hook_z[{h}]" for layer, h in gt.heads} | {
        f"blocks.{layer}.hook_mlp_out" for layer in gt.mlps
    }


def task(name: str, n: int = 128, seed: int = 0):
    prog = PROGRAMS[name]
    rng = np.random.default_rng(seed)
    return prog.sample(rng, n, 4), prog.sample(rng, n, 4)


@pytest.fixture(scope="module")
def compiled():
    return {n: compile_program(PROGRAMS[n]) for n in ("length", "histogram", "reverse", "frac_prevs", "sort", "max")}  # fmt: skip


@pytest.mark.parametrize("name", ["histogram", "reverse", "frac_prevs", "sort", "max"])
def test_recovers_the_compiled_circuit(compiled, name):
    c = compiled[name]
    x, cf = (c.model.encode(s) for s in task(name))
    circuit = discover_circuit(c.model, x, counterfactual=cf, metric=AFTER_BOS)
    assert {str(n) for n in circuit.nodes} == truth(c)
    assert circuit.faithfulness == pytest.approx(1.0, abs=1e-6)
    assert circuit.counterfactual == "counterfactual inputs (given)"
    # the empty circuit really breaks the program (the baseline is not the model itself)
    if c.model.categorical:
        assert circuit.accuracy["empty"] < 0.9 and circuit.accuracy["circuit"] == 1.0
    else:  # numerical output: mean squared error of the empty circuit to the program output
        assert circuit.accuracy is None and circuit.empty_score < -0.01


def test_distractor_components_that_vary_are_left_out(compiled):
    """Precision: the histogram half computes on the same tokens but never reaches the output.
    Its MLP shares layer 0 with reverse's length MLP, whose part is constant on fixed-length
    inputs: resampling cannot see it, the zero check can."""
    both = with_distractor(compiled["reverse"], compiled["histogram"])
    x, cf = (both.model.encode(s) for s in task("reverse"))
    plain = discover_circuit(both.model, x, counterfactual=cf, metric=AFTER_BOS)
    checked = discover_circuit(both.model, x, counterfactual=cf, metric=AFTER_BOS, zero_check=True)
    assert {str(n) for n in checked.nodes} == truth(both)
    assert "blocks.0.attn.hook_z[1]" not in {str(n) for n in plain.nodes}  # the distractor head
    assert {str(n) for n in plain.nodes} < truth(both)  # resampling alone misses the length path
    assert "zero_check" in checked.method


def test_components_that_never_vary_are_tested_by_zero_ablation(compiled):
    c = compiled["length"]  # every input has length 4: the length head and MLP are constant
    x, _ = task("length")
    circuit = discover_circuit(c.model, c.model.encode(x), metric=AFTER_BOS)
    assert {str(n) for n in circuit.nodes} == truth(c)
    head = Component("blocks.0.attn.hook_z", 0, axis=2)
    assert circuit.ablation[head] == "zero"
    assert circuit.constant[head]["mean"] == pytest.approx(0.0, abs=1e-9)
    assert circuit.constant[head]["zero"] > 0.5
    assert "derangement" in circuit.counterfactual  # fallback stated
    # the one-at-a-time KL scan declares them irrelevant: the failure this replaces
    old = scan_components(c.model, c.model.encode(x), circuit.candidates, threshold=0.01)
    assert old.circuit == []


def saturated_redundant() -> nn.Sequential:
    """Two hidden units carry the same evidence; the logit margin is ~40, so removing one
    leaves the prediction and the softmax (KL ~1e-9) unchanged while halving the margin."""
    net = nn.Sequential(nn.Linear(1, 3), nn.ReLU(), nn.Linear(3, 2))
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[1.0], [1.0], [0.3]]))
        net[0].bias.copy_(torch.tensor([1.0, 1.0, 1.0]))
        net[2].weight.copy_(torch.tensor([[10.0, 10.0, 0.0], [-10.0, -10.0, 0.0]]))
        net[2].bias.zero_()
    return net.double().eval()


def test_saturated_outputs_and_redundancy_need_margin_and_cumulative_search():
    net = saturated_redundant()
    x = torch.rand(64, 1, generator=torch.Generator().manual_seed(0), dtype=torch.float64) + 0.5
    cf = -x - 2.0  # counterfactual: both units off
    comps = neurons(net, x, "1")
    circuit = discover_circuit(net, x, comps, counterfactual=cf, threshold=0.05)
    assert set(circuit.nodes) == {Component("1", 0), Component("1", 1)}
    assert circuit.faithfulness == pytest.approx(1.0)
    assert circuit.minimality == 1.0
    assert circuit.scores[Component("1", 2)] == pytest.approx(0.0, abs=1e-12)
    # the KL scan sees neither unit: each alone moves the KL by ~1e-8
    assert scan_components(net, x, comps, threshold=1e-4, source=cf).circuit == []


def test_circuit_result_round_trips_and_prints(compiled):
    c = compiled["reverse"]
    x, cf = (c.model.encode(s) for s in task("reverse", 64))
    circuit = discover_circuit(c.model, x, counterfactual=cf, metric=AFTER_BOS)
    again = Circuit.from_dict(json.loads(json.dumps(circuit.to_dict())))
    assert again == circuit
    text = str(circuit)
    assert "faithfulness 1.0000" in text and "blocks.2.attn.hook_z[2]" not in text
    assert "margin" in circuit.metric and "4/" in repr(circuit)
    g = circuit.graph()
    assert sum(node["in_circuit"] for node in g["nodes"]) == 4
    assert ["blocks.0.attn.hook_z[0]", "blocks.2.attn.hook_z[0]"] in g["edges"]
    assert g["edges_inferred"]


def test_counterfactual_generator_and_attribution_pass(compiled):
    c = compiled["frac_prevs"]
    x, _ = task("frac_prevs")

    def fresh_tokens(inputs, rng):
        return c.model.encode(PROGRAMS["frac_prevs"].sample(rng, inputs.shape[0], 4))

    circuit = discover_circuit(c.model, c.model.encode(x), counterfactual=fresh_tokens,
                               metric=AFTER_BOS, method="attribution")  # fmt: skip
    assert circuit.counterfactual == "generator fresh_tokens"
    assert "mse" in circuit.metric  # numerical output
    assert {str(n) for n in circuit.nodes} == truth(c)
    assert circuit.method.startswith("attribution+acdc")


def test_attribution_matches_exact_effects_on_a_smooth_model():
    torch.manual_seed(0)  # before the network: its weights must not depend on earlier tests
    net = nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 3)).double()
    x = torch.randn(200, 4, dtype=torch.float64)
    comps = neurons(net, x, "1")
    exact = discover_circuit(net, x, comps, method="acdc", metric="kl", threshold=0.02)
    approx = discover_circuit(net, x, comps, method="attribution", metric="kl", threshold=0.02)
    assert approx.faithfulness >= 1 - 0.02 * len(comps)
    assert len(set(exact.nodes) ^ set(approx.nodes)) <= 2


def test_resample_ablation_from_a_circuit_changes_only_the_outside(compiled):
    both = with_distractor(compiled["histogram"], compiled["reverse"])
    x, cf = (both.model.encode(s) for s in task("histogram"))
    circuit = discover_circuit(both.model, x, counterfactual=cf, metric=AFTER_BOS)
    sampler = ResampleAblation(circuit, inputs=x, check=BehaviourCheck(max_kl=1e-6))
    got = sampler.draw(both.model, np.random.default_rng(0))
    assert got.rejected == 0 and got.stats["kl"] < 1e-9
    assert got.stats["changed"] > 0.1  # the distractor's activations were really resampled
    assert torch.allclose(got.model(x), both.model(x), atol=1e-9)


def test_bad_inputs(compiled):
    c = compiled["histogram"]
    x, cf = (c.model.encode(s) for s in task("histogram", 32))
    with pytest.raises(ValueError, match="hook points the model does not have"):
        discover_circuit(c.model, x, [Component("blocks.7.attn.hook_z", 0, axis=2)])
    with pytest.raises(ValueError, match="index 3 is out of range"):
        discover_circuit(c.model, x, [Component("blocks.0.attn.hook_z", 3, axis=2)])
    with pytest.raises(ValueError, match="no TransformerLens-style hook points"):
        transformer_components(nn.Sequential(nn.Linear(2, 2)))
    with pytest.raises(ValueError, match="row-paired"):
        discover_circuit(c.model, x, counterfactual=cf[:5])
    # the distractor's components never reach the output: the metric cannot move
    both = with_distractor(compiled["reverse"], compiled["histogram"])
    xr = both.model.encode(task("reverse", 32)[0])
    distractor_only = [Component("blocks.0.attn.hook_z", 1, axis=2)]
    with pytest.raises(MechequivError, match="does not move"):
        discover_circuit(both.model, xr, distractor_only, metric=AFTER_BOS)
    # a circuit that is not faithful is refused by ResampleAblation
    full = discover_circuit(c.model, x, counterfactual=cf, metric=AFTER_BOS)
    broken = Circuit.from_dict({**full.to_dict(), "faithfulness": 0.2})
    with pytest.raises(ValueError, match="not faithful"):
        ResampleAblation(broken, inputs=x)
    with pytest.raises(ValueError, match="logit_diff metric needs counter_labels"):
        BehaviourMetric("logit_diff")


def test_evaluate_a_given_circuit_and_a_partial_one(compiled):
    from mechequiv.equivalence import evaluate_circuit

    c = compiled["reverse"]
    x, cf = (c.model.encode(s) for s in task("reverse", 64))
    comps = transformer_components(c.model)
    true = [k for k in comps if str(k) in truth(c)]
    full = evaluate_circuit(c.model, x, true, comps, counterfactual=cf, metric=AFTER_BOS)
    assert full.method == "given" and full.faithfulness == pytest.approx(1.0, abs=1e-6)
    partial = evaluate_circuit(c.model, x, true[1:], comps, counterfactual=cf, metric=AFTER_BOS)
    assert partial.faithfulness < 0.5 and set(partial.nodes) == set(true[1:])
    with pytest.raises(ValueError, match="not among the candidates"):
        evaluate_circuit(c.model, x, [Component("blocks.0.hook_mlp_out", 0)], comps)


def test_min_faithfulness_stops_small_losses_from_adding_up():
    net = saturated_redundant()
    x = torch.rand(64, 1, generator=torch.Generator().manual_seed(0), dtype=torch.float64) + 0.5
    comps = neurons(net, x, "1")
    # each redundant unit carries half of the margin: each removal costs 0.5 < 0.6, and under
    # the threshold alone, tested one at a time, both go one after the other (the losses add
    # up to everything)
    loose = discover_circuit(net, x, comps, counterfactual=-x - 2.0, threshold=0.6,
                             min_faithfulness=None, order="index")  # fmt: skip
    assert loose.nodes == () and loose.faithfulness == pytest.approx(0.0, abs=1e-9)
    # the canonical order tests the two exact copies together (removing both costs 1.0)
    together = discover_circuit(net, x, comps, counterfactual=-x - 2.0, threshold=0.6,
                                min_faithfulness=None)  # fmt: skip
    assert set(together.nodes) == {Component("1", 0), Component("1", 1)}
    kept = discover_circuit(net, x, comps, counterfactual=-x - 2.0, threshold=0.6)
    assert set(kept.nodes) == {Component("1", 0), Component("1", 1)}
    assert kept.faithfulness >= 0.9
