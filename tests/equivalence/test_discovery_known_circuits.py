"""Circuit discovery (nodes and edges) against circuits known by construction: induction
compiled by Tracr and set by hand, and the edges of Tracr-compiled RASP programs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mechequiv.equivalence import BehaviourMetric, discover_circuit, evaluate_circuit
from mechequiv.equivalence.discovery import transformer_components
from mechequiv.equivalence.edges import discover_edges, edge_label
from mechequiv.zoo.induction import (
    handset_induction,
    relabel,
    repeat_sample,
    repeated_positions,
    tracr_induction,
)

VOCAB = 8


def node_names(compiled) -> set[str]:
    gt = compiled.ground_truth
    return {f"blocks.{layer}.attn.hook_z[{h}]" for layer, h in gt.heads} | {
        f"blocks.{layer}.hook_mlp_out" for layer in gt.mlps
    }


def induction_task(compiled, n: int = 96, length: int = 8, seed: int = 0):
    rng = np.random.default_rng(seed)
    seqs = compiled.inputs(rng, n, length)
    x = compiled.model.encode(seqs)
    return seqs, x, relabel(x, VOCAB, rng), BehaviourMetric(positions=repeated_positions(x))


def expected_induction(seqs: list[list[int]]) -> torch.Tensor:
    """By brute force: at each repeated token (BOS column included), the token that followed its
    earlier occurrence; -1 elsewhere."""
    out = torch.full((len(seqs), len(seqs[0]) + 1), -1)
    for i, s in enumerate(seqs):
        for p in range(len(s)):
            for j in range(p):
                if s[j] == s[p]:
                    out[i, p + 1] = s[j + 1]
    return out


def test_repeat_sample_relabel_and_repeated_positions():
    rng = np.random.default_rng(0)
    seqs = repeat_sample(VOCAB)(rng, 200, 10)
    assert all(max(s.count(t) for t in s) == 2 for s in seqs)  # every row repeats, at most twice
    x = torch.tensor([[VOCAB, *s] for s in seqs])
    mask = repeated_positions(x)
    assert torch.equal(mask, expected_induction(seqs) >= 0)
    cf = relabel(x, VOCAB, rng)
    assert torch.equal(cf[:, 0], x[:, 0]) and bool((cf[:, 1:] != x[:, 1:]).all())
    assert torch.equal(repeated_positions(cf), mask)  # same layout, every token renamed
    with pytest.raises(ValueError, match="length must lie"):
        repeat_sample(VOCAB)(rng, 1, 2 * VOCAB)
    with pytest.raises(ValueError, match=r"must lie in 0\.\.7"):
        relabel(x, VOCAB, rng, skip=0)  # the BOS id (8) is outside the vocabulary
    with pytest.raises(ValueError, match="at least 2 tokens"):
        relabel(x, 1, rng)


@pytest.fixture(scope="module")
def handset():
    return handset_induction(VOCAB, seed=0)


def test_handset_model_does_induction(handset):
    seqs, x, _, _ = induction_task(handset, length=12)
    pred = handset.model(x).argmax(-1)
    want = expected_induction(seqs)
    assert torch.equal(pred[want >= 0], want[want >= 0])


@pytest.mark.parametrize("zero_check", [False, True])
def test_finds_the_handset_induction_circuit_and_its_edge(handset, zero_check):
    _, x, cf, metric = induction_task(handset, length=12)
    circ = discover_circuit(handset.model, x, counterfactual=cf, metric=metric,
                            zero_check=zero_check)  # fmt: skip
    assert {str(c) for c in circ.nodes} == node_names(handset)  # recall 1, precision 1 of 8
    assert circ.faithfulness == pytest.approx(1.0, abs=1e-3) and circ.completeness > 0.99
    edges = discover_edges(handset.model, x, circ, counterfactual=cf, metric=metric,
                           zero_check=zero_check)  # fmt: skip
    assert {edge_label(e) for e in edges.edges} == handset.ground_truth.edge_names()
    assert edges.faithfulness == pytest.approx(1.0, abs=1e-3)


def test_edges_of_every_head_keep_only_the_one_that_reaches_the_output(handset):
    """With all six heads as the node circuit, the model's other head-to-head edges (L0H2 ->
    L1H1's query, L0H0 -> L1H2's value) are real but never reach the output: they go."""
    _, x, cf, metric = induction_task(handset, length=12)
    heads = [c for c in transformer_components(handset.model) if ".attn." in c.point]
    full = evaluate_circuit(handset.model, x, heads, heads, counterfactual=cf, metric=metric)
    got = discover_edges(handset.model, x, full, counterfactual=cf, metric=metric)
    assert len(got.edge_scores) == 27  # 3 senders x 3 receivers x q/k/v
    assert {edge_label(e) for e in got.edges} == handset.ground_truth.edge_names()
    by_name = {edge_label(e): s for e, s in got.edge_scores.items()}
    assert by_name["blocks.0.attn.hook_z[0] -> blocks.1.attn.hook_k[0]"] > 0.5


@pytest.fixture(scope="module")
def tracr_ind():
    pytest.importorskip("tracr")
    return tracr_induction(VOCAB, distractors=True)


def test_tracr_induction_computes_induction_and_knows_its_circuit(tracr_ind):
    gt = tracr_ind.ground_truth
    assert gt.heads == ((0, 0), (1, 0)) and gt.mlps == ()
    assert gt.edge_names() == {"blocks.0.attn.hook_z[0] -> blocks.1.attn.hook_k[0]"}
    seqs, x, _, _ = induction_task(tracr_ind)
    pred = tracr_ind.model(x).argmax(-1)
    want = expected_induction(seqs)
    assert torch.equal(pred[want >= 0], want[want >= 0])


def test_finds_the_tracr_induction_circuit_among_distractors(tracr_ind):
    _, x, cf, metric = induction_task(tracr_ind)
    comps = transformer_components(tracr_ind.model)
    assert len(comps) == 7  # 3 + 2 heads and 2 MLPs: distractor programs beside induction
    circ = discover_circuit(tracr_ind.model, x, comps, counterfactual=cf, metric=metric)
    assert {str(c) for c in circ.nodes} == node_names(tracr_ind)
    edges = discover_edges(tracr_ind.model, x, circ, counterfactual=cf, metric=metric)
    assert {edge_label(e) for e in edges.edges} == tracr_ind.ground_truth.edge_names()
    assert edges.faithfulness == pytest.approx(1.0, abs=1e-6)


EDGE_PROGRAMS = ["sort", "frac_prevs", "max", "above_first", "reverse"]


@pytest.fixture(scope="module")
def compiled_programs():
    pytest.importorskip("tracr")
    from mechequiv.zoo.rasp_programs import PROGRAMS
    from mechequiv.zoo.tracr import compile_program

    return {name: (PROGRAMS[name], compile_program(PROGRAMS[name])) for name in EDGE_PROGRAMS}


def test_tracr_true_edges_come_from_the_rasp_graph(compiled_programs):
    truth = {name: c.ground_truth.edge_names() for name, (_, c) in compiled_programs.items()}
    assert truth["sort"] == {"blocks.0.hook_mlp_out -> blocks.1.attn.hook_k[0]"}  # rank -> key
    assert truth["frac_prevs"] == {"blocks.0.hook_mlp_out -> blocks.1.attn.hook_v[0]"}
    assert truth["max"] == {"blocks.0.hook_mlp_out -> blocks.2.attn.hook_q[0]",
                            "blocks.1.hook_mlp_out -> blocks.2.attn.hook_k[0]"}  # fmt: skip
    gt = compiled_programs["max"][1].ground_truth
    assert type(gt).from_dict(gt.to_dict()) == gt


@pytest.mark.parametrize("name", EDGE_PROGRAMS)
def test_edges_of_tracr_programs_match_the_rasp_graph(compiled_programs, name):
    """Recall and precision 1 on the edges into heads' queries, keys and values. ``max`` reads
    a constant map (``one``) computed in the same MLP layer as a varying one: resampling cannot
    cut that edge, zero_check does (as for nodes)."""
    prog, c = compiled_programs[name]
    rng = np.random.default_rng(0)
    x, cf = c.model.encode(prog.sample(rng, 128, 4)), c.model.encode(prog.sample(rng, 128, 4))
    metric = BehaviourMetric(positions=slice(1, None))
    circ = discover_circuit(c.model, x, counterfactual=cf, metric=metric, zero_check=True)
    assert {str(n) for n in circ.nodes} == node_names(c)
    got = discover_edges(c.model, x, circ, counterfactual=cf, metric=metric, zero_check=True)
    assert {edge_label(e) for e in got.edges} == c.ground_truth.edge_names()
    if name == "max":  # without zero_check the constant edge is missed, and only that one
        plain = discover_edges(c.model, x, circ, counterfactual=cf, metric=metric)
        missed = c.ground_truth.edge_names() - {edge_label(e) for e in plain.edges}
        assert missed == {"blocks.0.hook_mlp_out -> blocks.2.attn.hook_q[0]"}


def test_edges_follow_direct_paths_only(compiled_programs):
    """In ``reverse`` the length head (L0) feeds L2's query only through two MLPs: cutting its
    direct path changes nothing, so that edge scores 0 while MLP1 -> L2's query scores ~1."""
    prog, c = compiled_programs["reverse"]
    rng = np.random.default_rng(1)
    x, cf = c.model.encode(prog.sample(rng, 128, 4)), c.model.encode(prog.sample(rng, 128, 4))
    metric = BehaviourMetric(positions=slice(1, None))
    circ = evaluate_circuit(c.model, x, [*transformer_components(c.model)],
                            counterfactual=cf, metric=metric)  # fmt: skip
    got = discover_edges(c.model, x, circ, counterfactual=cf, metric=metric, threshold=0.999,
                         min_faithfulness=None, max_sweeps=1)  # fmt: skip
    scores = {edge_label(e): s for e, s in got.edge_scores.items()}
    assert scores["blocks.0.attn.hook_z[0] -> blocks.2.attn.hook_q[0]"] == pytest.approx(
        0, abs=1e-9
    )
    assert scores["blocks.1.hook_mlp_out -> blocks.2.attn.hook_q[0]"] > 0.5


def test_zoo_heads_expose_qkv_and_an_edge_is_its_direct_path_by_hand():
    """The zoo's causal attention exposes hook_q/k/v; without LayerNorm removing the edge
    L0H1 -> L1H0's key adds exactly ``W_K(W_O(z_cf - z))`` of that head to the key."""
    from mechequiv.capture import capture, run_with_patches
    from mechequiv.equivalence import Component
    from mechequiv.zoo.induction import break_repeat, induction_batch, train_induction_zoo

    model = train_induction_zoo(seed=0, n_heads=2, d_model=16, half=4, vocab=VOCAB, steps=0,
                                layer_norm=False)  # fmt: skip
    with torch.no_grad():  # no MLP path: components that are not candidates stay live, so a
        for block in model.blocks:  # path through them would count as part of the edge
            block.mlp.fc_out.weight.zero_()
            block.mlp.fc_out.bias.zero_()
    rng = np.random.default_rng(0)
    batch = induction_batch(32, 4, VOCAB, rng)
    x, cf = batch.tokens, break_repeat(batch, VOCAB, rng)
    metric = BehaviourMetric("kl")  # untrained: KL to the model moves, a margin barely does
    heads = [Component(f"blocks.{layer}.attn.heads", h, axis=2) for layer in (0, 1)
             for h in range(2)]  # fmt: skip
    circuit = evaluate_circuit(model, x, [heads[1], heads[2]], heads, counterfactual=cf,
                               metric=metric)  # fmt: skip
    got = discover_edges(model, x, circuit, counterfactual=cf, metric=metric, threshold=0.999,
                         min_faithfulness=None, max_sweeps=1)  # fmt: skip
    edge = (heads[1], Component("blocks.1.attn.hook_k", 0, axis=2))
    assert edge in got.edge_scores and len(got.edge_scores) == 3

    z = capture(model, x, ["blocks.0.attn.heads", "blocks.1.attn.hook_k"], progress=False)
    z_cf = capture(model, cf, ["blocks.0.attn.heads", "blocks.1.attn.heads"], progress=False)
    attn0, attn1 = model.blocks[0].attn, model.blocks[1].attn
    dz = torch.zeros_like(z["blocks.0.attn.heads"])
    dz[:, :, 1] = z_cf["blocks.0.attn.heads"][:, :, 1] - z["blocks.0.attn.heads"][:, :, 1]
    with torch.no_grad():
        dk = attn1.W_K(attn0.W_O(dz.flatten(-2))).reshape(*dz.shape[:2], 2, -1)[:, :, 0]

    def l0(live):
        live = live.clone()
        live[:, :, 0] = z_cf["blocks.0.attn.heads"][:, :, 0]
        return live

    def l1(live):
        live = live.clone()
        live[:, :, 1] = z_cf["blocks.1.attn.heads"][:, :, 1]
        return live

    def key(live):
        live = live.clone()
        live[:, :, 0] += dk
        return live

    patches = {"blocks.0.attn.heads": l0, "blocks.1.attn.heads": l1, "blocks.1.attn.hook_k": key}
    out = run_with_patches(model, x, patches, batch_size=None, progress=False)
    span = circuit.model_score - circuit.empty_score
    expected = circuit.faithfulness - (metric(out, model(x).detach()) - circuit.empty_score) / span
    assert got.edge_scores[edge] == pytest.approx(expected, abs=1e-6)
    assert abs(expected) > 1e-4
