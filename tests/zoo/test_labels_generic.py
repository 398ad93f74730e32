"""Mechanism labels on models that are not the zoo's: plain torch layouts and TransformerLens."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from mechequiv.zoo.labels import (
    distance_irrelevance,
    gradient_symmetricity,
    mechanism_labels,
    number_embeddings,
)

P = 5


class SeparateVocab(nn.Module):
    """Separate a / b embedding tables, a bilinear-ish mixing layer, logits over p."""

    def __init__(self, p: int, summed: bool = False) -> None:
        super().__init__()
        torch.manual_seed(3)
        self.ea, self.eb = nn.Embedding(p, 6), nn.Embedding(p, 6)
        self.mix = nn.Linear(12, 16)
        self.out = nn.Linear(16, p)
        self.summed = summed

    def head(self, xa: torch.Tensor, xb: torch.Tensor) -> torch.Tensor:
        h = torch.cat([xa + xb, xa + xb], -1) if self.summed else torch.cat([xa, xb * xa], -1)
        return self.out(torch.tanh(self.mix(h)))

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return self.head(self.ea(a), self.eb(b))


def encode_pair(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return a, b


def test_symmetricity_of_a_separate_vocabulary_model_matches_a_per_triple_loop():
    model = SeparateVocab(P).double()
    total = []
    for a in range(P):
        for b in range(P):
            for c in range(P):
                xa = model.ea.weight[a].detach().clone().requires_grad_(True)
                xb = model.eb.weight[b].detach().clone().requires_grad_(True)
                model.head(xa, xb)[c].backward()
                total.append(float(xa.grad @ xb.grad / (xa.grad.norm() * xb.grad.norm())))
    got = gradient_symmetricity(model, P, encode=encode_pair, embeddings=("ea", "eb"))
    assert got == pytest.approx(np.mean(total), abs=1e-10)
    assert got < 0.9  # the product xa * xb makes the two gradients differ


def test_an_mlp_on_summed_embeddings_is_symmetric_by_construction():
    model = SeparateVocab(P, summed=True)
    gs = gradient_symmetricity(model, P, encode=encode_pair, embeddings=("ea", "eb"))
    assert gs == pytest.approx(1.0, abs=1e-12)
    e = number_embeddings(model, P, encode=encode_pair, embeddings=("ea", "eb"))
    expected = torch.cat([model.ea.weight, model.eb.weight], 1).detach().double().numpy()
    np.testing.assert_allclose(e, expected, rtol=1e-6)
    labels = mechanism_labels(model, P, encode=encode_pair, embeddings=("ea", "eb"))
    assert labels.gradient_symmetricity == pytest.approx(1.0, abs=1e-12)
    assert labels.kind is None  # untrained: accuracy far below 0.95
    assert json.loads(json.dumps(labels.to_dict()))["test_accuracy"] == labels.test_accuracy


class Table(nn.Module):
    def __init__(self, q: torch.Tensor, p: int) -> None:
        super().__init__()
        self.q, self.p = q, p

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        out = torch.zeros(len(a), self.p, dtype=torch.float64)
        out[torch.arange(len(a)), (a + b) % self.p] = self.q[a * self.p + b]
        return out


def test_distance_irrelevance_with_an_encoding():
    p = 7
    a, b = torch.arange(p).repeat_interleave(p), torch.arange(p).repeat(p)
    gen = torch.Generator().manual_seed(0)
    by_distance = torch.randn(p, generator=gen, dtype=torch.float64)[(a - b) % p]
    by_sum = torch.randn(p, generator=gen, dtype=torch.float64)[(a + b) % p]
    assert distance_irrelevance(Table(by_distance, p), p, encode=encode_pair) == pytest.approx(
        0.0, abs=1e-12
    )
    assert distance_irrelevance(Table(by_sum, p), p, encode=encode_pair) == pytest.approx(
        1.0, abs=1e-12
    )


def test_bad_input():
    model = SeparateVocab(P)
    with pytest.raises(ValueError, match="encode"):
        gradient_symmetricity(model, P, embeddings=("ea", "eb"))
    with pytest.raises(TypeError, match="embeddings="):
        gradient_symmetricity(model, P, encode=encode_pair)
    with pytest.raises(ValueError, match="no hook point"):
        gradient_symmetricity(model, P, encode=encode_pair, embeddings=("ea", "nope"))
    with pytest.raises(ValueError, match="answer logits"):
        distance_irrelevance(nn.Identity(), P, encode=lambda a, b: torch.zeros(P * P, 3))
    with pytest.raises(TypeError, match="modulus"):
        distance_irrelevance(model, "5", encode=encode_pair)


def tl_model(rate: float, attn_only: bool):
    tl = pytest.importorskip("transformer_lens")
    if not hasattr(tl, "TransformerBridgeConfig"):  # pragma: no cover - TL < 4
        pytest.skip("TransformerLens 4 bridge")
    cfg = tl.TransformerBridgeConfig(
        d_model=8, d_head=4, n_layers=1, n_ctx=3, n_heads=2, d_vocab=P + 1, d_vocab_out=P,
        d_mlp=16, seed=0, act_fn="relu", normalization_type=None, attn_only=attn_only,
    )  # fmt: skip
    model = tl.TransformerBridge.boot_native(cfg)

    def uniform(pattern: torch.Tensor, hook=None) -> torch.Tensor:
        causal = torch.ones_like(pattern).tril()
        return rate * pattern + (1 - rate) * causal / causal.sum(-1, keepdim=True)

    model.blocks[0].attn.hook_pattern.add_perma_hook(uniform)
    return model.eval()


def tokens(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.stack([a, b, torch.full_like(a, P)], 1)


def test_transformer_lens_symmetricity_through_hook_embed():
    # uniform attention and no MLP: the last position is linear in E_a + E_b, so symmetricity 1
    pizza = gradient_symmetricity(tl_model(0.0, attn_only=True), P, encode=tokens)
    assert pizza == pytest.approx(1.0, abs=1e-9)
    clock = gradient_symmetricity(tl_model(1.0, attn_only=False), P, encode=tokens)
    assert clock < 0.999
    labels = mechanism_labels(tl_model(1.0, attn_only=False), P, encode=tokens)
    assert labels.gradient_symmetricity == pytest.approx(clock)
    assert len(labels.key_frequencies) >= 1
