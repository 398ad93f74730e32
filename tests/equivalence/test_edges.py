"""Edge discovery by path patching (mechequiv.equivalence.edges)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mechequiv.equivalence import BehaviourMetric, Component, evaluate_circuit
from mechequiv.equivalence.discovery import Circuit
from mechequiv.equivalence.edges import discover_edges, qkv_receivers
from mechequiv.errors import MechequivError
from mechequiv.zoo.induction import break_repeat, induction_batch, train_induction_bridge

pytest.importorskip("transformer_lens")

HALF, VOCAB = 6, 16


@pytest.fixture(scope="module")
def setup():
    model = train_induction_bridge(seed=0, steps=0, n_heads=4, d_model=32, half=HALF, vocab=VOCAB)
    rng = np.random.default_rng(0)
    batch = induction_batch(64, HALF, VOCAB, rng)
    cf = break_repeat(batch, VOCAB, rng)
    metric = BehaviourMetric(positions=batch.mask)
    heads = [Component(f"blocks.{layer}.attn.hook_z", h, axis=2) for layer in (0, 1)
             for h in range(4)]  # fmt: skip
    nodes = [heads[0], heads[1], heads[5], heads[6]]
    circuit = evaluate_circuit(model, batch.tokens, nodes, heads, counterfactual=cf, metric=metric)
    return model, batch, cf, metric, circuit


def test_one_edge_removed_is_path_patching_by_hand(setup):
    model, batch, cf, metric, _ = setup
    x = batch.tokens
    heads = [Component(f"blocks.{layer}.attn.hook_z", h, axis=2) for layer in (0, 1)
             for h in range(4)]  # fmt: skip
    circuit = evaluate_circuit(model, x, [heads[1], heads[6]], heads, counterfactual=cf,
                               metric=metric)  # fmt: skip
    # threshold near 1, no floor: every edge goes; the K edge is tested first, alone
    got = discover_edges(model, x, circuit, counterfactual=cf, metric=metric, threshold=0.999,
                         min_faithfulness=None, max_sweeps=1)  # fmt: skip
    assert got.node_faithfulness == pytest.approx(circuit.faithfulness, abs=1e-9)
    assert got.edges == () and len(got.edge_scores) == 3
    receivers = qkv_receivers(model, circuit)
    assert [r.point for r in receivers] == [f"blocks.1.attn.hook_{p}" for p in "qkv"]
    assert {r.index for r in receivers} == {2}

    # By hand with TransformerLens's own hooks: outside heads take their counterfactual z;
    # run 1 also gives head 0.1 its counterfactual z and reads head 1.2's keys; run 2 writes
    # those keys into the circuit run.
    outside = [(0, 0), (0, 2), (0, 3), (1, 0), (1, 1), (1, 3)]
    _, corrupt = model.run_with_cache(cf)

    def ablate(extra):
        def fn(z, hook):
            layer, z = int(hook.name.split(".")[1]), z.clone()
            for lay, h in outside + extra:
                if lay == layer:
                    z[:, :, h] = corrupt[hook.name][:, :, h]
            return z

        return [(f"blocks.{layer}.attn.hook_z", fn) for layer in (0, 1)]

    with model.hooks(fwd_hooks=ablate([(0, 1)])):
        _, run1 = model.run_with_cache(x)
    keys = run1["blocks.1.attn.hook_k"][:, :, 2].clone()

    def set_keys(k, hook):
        k = k.clone()
        k[:, :, 2] = keys
        return k

    out = model.run_with_hooks(x, fwd_hooks=[*ablate([]), ("blocks.1.attn.hook_k", set_keys)])
    by_hand = metric(out.detach(), model(x).detach())
    span = circuit.model_score - circuit.empty_score
    edge = (heads[1], Component("blocks.1.attn.hook_k", 2, axis=2))
    expected = circuit.faithfulness - (by_hand - circuit.empty_score) / span
    assert got.edge_scores[edge] == pytest.approx(expected, abs=1e-6)
    assert abs(expected) > 1e-4  # the edge matters at all: the check is not vacuous


def test_edges_need_qkv_hooks_a_circuit_and_its_counterfactual(setup):
    model, batch, cf, metric, circuit = setup
    with pytest.raises(TypeError, match="must be a Circuit"):
        discover_edges(model, batch.tokens, list(circuit.nodes), counterfactual=cf)
    with pytest.raises(ValueError, match="counterfactual inputs are needed"):
        discover_edges(model, batch.tokens, circuit, counterfactual=None, metric=metric)
    with pytest.raises(ValueError, match="does not match the model"):
        discover_edges(model, batch.tokens, circuit, counterfactual=batch.tokens, metric=metric)
    zoo_like = torch.nn.Sequential(torch.nn.Linear(3, 3))
    fake = Circuit.from_dict(
        {**circuit.to_dict(), "nodes": [{"point": "blocks.0.attn.x", "index": 0, "axis": 2},
                                        {"point": "blocks.1.attn.x", "index": 0, "axis": 2}],
         "candidates": [{"point": "blocks.0.attn.x", "index": 0, "axis": 2},
                        {"point": "blocks.1.attn.x", "index": 0, "axis": 2}],
         "scores": {}, "ablation": {}, "constant": {}}
    )  # fmt: skip
    with pytest.raises(MechequivError, match=r"exposes no 'blocks\.1\.attn\.hook_q' hook"):
        qkv_receivers(zoo_like, fake)


def test_edge_circuit_round_trips_and_draws_into_heads(setup):
    model, batch, cf, metric, circuit = setup
    got = discover_edges(model, batch.tokens, circuit, counterfactual=cf, metric=metric,
                         threshold=0.05, min_faithfulness=None)  # fmt: skip
    back = Circuit.from_dict(got.to_dict())
    assert back.edges == got.edges and back.edge_scores == got.edge_scores
    assert back.node_faithfulness == got.node_faithfulness
    g = got.graph()
    ids = {n["id"] for n in g["nodes"]}
    assert all(a in ids and b in ids for a, b in g["edges"])
    assert set(g.get("edge_paths", [])) <= {"q", "k", "v"}
