"""Circuit discovery on transformers trained here on induction (TransformerLens 4 and the zoo)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mechequiv.capture import capture, run_with_patches
from mechequiv.equivalence import (
    BehaviourCheck,
    BehaviourMetric,
    Component,
    ResampleAblation,
    discover_circuit,
    transformer_components,
)
from mechequiv.equivalence.components import component_patches, model_adapter
from mechequiv.zoo.induction import (
    head_scores,
    induction_accuracy,
    induction_batch,
    train_induction_bridge,
)

pytest.importorskip("transformer_lens")

HALF, VOCAB = 6, 16


def untrained_bridge():
    return train_induction_bridge(seed=0, steps=0, n_heads=4, d_model=32, half=HALF, vocab=VOCAB)


def test_head_patching_on_a_transformer_lens_bridge_matches_its_own_hooks():
    """TL 4 stores hook_z as (n, t, heads * d_head) and shows it as (n, t, heads, d_head): a
    head patch must land on the same head as TransformerLens's own run_with_hooks."""
    model = untrained_bridge()
    x = induction_batch(8, HALF, VOCAB, np.random.default_rng(0)).tokens
    head = Component("blocks.1.attn.hook_z", 2, axis=2)
    zeros = {head: torch.zeros(8, x.shape[1], 8)}
    ours = run_with_patches(model_adapter(model), x, component_patches(zeros, model.hook_dict))

    def zero_head(z, hook):
        z = z.clone()
        z[:, :, 2] = 0.0
        return z

    theirs = model.run_with_hooks(x, fwd_hooks=[("blocks.1.attn.hook_z", zero_head)])
    torch.testing.assert_close(ours, theirs.detach())
    assert not torch.allclose(ours, model(x).detach())
    comps = transformer_components(model)
    assert comps[:4] == [Component("blocks.0.attn.hook_z", h, axis=2) for h in range(4)]
    assert len(comps) == 8  # attention-only: no MLPs


@pytest.fixture(scope="module")
def trained():
    kw = dict(seed=0, half=HALF, vocab=VOCAB, n_heads=4, d_model=32, steps=1500, batch=64,
              lr=3e-3, target_accuracy=0.9)  # fmt: skip
    return {"bridge": train_induction_bridge(**kw)}


@pytest.mark.slow
def test_induction_circuit_is_faithful_and_holds_the_known_heads(trained):
    from mechequiv.zoo.induction import break_repeat, known_heads, repeat_losses

    model = trained["bridge"]
    rng = np.random.default_rng(1)
    batch = induction_batch(256, HALF, VOCAB, rng)
    x, cf = batch.tokens, break_repeat(batch, VOCAB, rng)  # the first copy replaced
    assert induction_accuracy(model, batch) > 0.85
    losses = repeat_losses(model, batch)
    assert losses["second_copy"] < 0.3 * losses["first_copy"]
    metric = BehaviourMetric(positions=batch.mask)
    circuit = discover_circuit(model, x, counterfactual=cf, metric=metric, threshold=0.02)
    assert circuit.faithfulness >= 0.9
    assert circuit.empty_score < 0 < circuit.model_score  # the counterfactual breaks induction
    # The heads that attention patterns single out (no patching) are in the circuit.
    point = "blocks.{}.attn.hook_pattern"
    pats = capture(model_adapter(model), x, [point.format(0), point.format(1)], progress=False)
    scores = head_scores({i: pats[point.format(i)] for i in (0, 1)}, batch)
    prev = int(np.argmax(scores["previous_token"][0]))
    ind = int(np.argmax(scores["induction"][1]))
    # a previous-token head in layer 0, induction heads in layer 1 (not the other way round)
    assert scores["previous_token"][0, prev] > 2 * scores["previous_token"][1].max()
    assert scores["induction"][1, ind] > 0.5 > scores["induction"][0].max()
    known = {Component(f"blocks.{layer}.attn.hook_z", h, axis=2)
             for heads in known_heads(scores).values() for layer, h in heads}  # fmt: skip
    assert known <= set(circuit.nodes)
    # Implementations drawn outside the circuit keep the behaviour.
    if len(circuit.nodes) < len(circuit.candidates):
        check = BehaviourCheck(max_kl=0.2)
        sampler = ResampleAblation(circuit, inputs=x, source=cf, check=check)
        got = sampler.draw(model, np.random.default_rng(0))
        assert got.stats["kl"] <= 0.2


def test_break_repeat_changes_only_the_first_copy_and_every_token_there():
    from mechequiv.zoo.induction import break_repeat

    batch = induction_batch(64, HALF, VOCAB, np.random.default_rng(3))
    cf = break_repeat(batch, VOCAB, np.random.default_rng(4))
    changed = cf != batch.tokens
    for i, (r, length) in enumerate(zip(batch.offsets, batch.lengths, strict=True)):
        first = np.zeros(batch.tokens.shape[1], dtype=bool)
        first[1 + r : 1 + r + length] = True
        assert changed[i].numpy().tolist() == first.tolist()
    assert int(cf[:, 1:].min()) >= 1 and int(cf.max()) < VOCAB and int(cf[:, 0].max()) == 0


def test_known_heads_and_repeat_losses_by_hand():
    from mechequiv.zoo.induction import known_heads, repeat_losses

    scores = {
        "previous_token": np.array([[0.1, 0.9, 0.35, 0.2], [0.05, 0.1, 0.1, 0.1]]),
        "induction": np.array([[0.0, 0.0, 0.0, 0.0], [0.1, 0.2, 0.05, 0.25]]),
    }
    known = known_heads(scores, min_score=0.3)
    assert known == {"previous_token": [(0, 1), (0, 2)], "induction": [(1, 3)]}

    batch = induction_batch(32, HALF, VOCAB, np.random.default_rng(5))

    class Oracle(torch.nn.Module):
        """Uniform logits except at induction positions, where the true next token gets +20."""

        def forward(self, x):
            logits = torch.zeros(*x.shape, VOCAB)
            nxt = torch.roll(x, -1, 1)
            logits.scatter_(-1, nxt[..., None], batch.mask[..., None].float() * 20)
            return logits

    losses = repeat_losses(Oracle(), batch)
    assert losses["first_copy"] == pytest.approx(np.log(VOCAB))
    assert losses["second_copy"] == pytest.approx(-20 + np.log(np.exp(20) + VOCAB - 1))


def test_head_scores_without_bos_renormalise_what_is_left_by_hand():
    """A head parking 0.9 of its attention on BOS and 0.1 on the previous token scores 0.1 raw
    and 1 once BOS is excluded; a head on BOS only scores 0 either way (no division by 0)."""
    batch = induction_batch(4, HALF, VOCAB, np.random.default_rng(6))
    t = batch.tokens.shape[1]
    pat = torch.zeros(4, 2, t, t)
    pat[:, :, :, 0] = 1.0
    p = torch.arange(1, t)
    pat[:, 0, p, 0] = 0.9
    pat[:, 0, p, p - 1] += 0.1  # at p = 1 the previous token is BOS itself
    raw = head_scores({0: pat}, batch)["previous_token"][0]
    no_bos = head_scores({0: pat}, batch, exclude_bos=True)["previous_token"][0]
    np.testing.assert_allclose(raw, [0.1, 0.0], atol=1e-12)
    np.testing.assert_allclose(no_bos, [1.0, 0.0], atol=1e-12)
