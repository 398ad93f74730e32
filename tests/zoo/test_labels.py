"""Mechanism labels against brute force and constructed cases."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch
from torch import nn

from mechequiv.errors import MechequivError
from mechequiv.zoo import boolean, mlp, modular_addition, transformer
from mechequiv.zoo.labels import (
    distance_irrelevance,
    fourier_spectrum,
    gradient_symmetricity,
    mechanism_labels,
    number_embeddings,
)
from mechequiv.zoo.tasks import operands


def test_gradient_symmetricity_matches_a_per_triple_autograd_loop():
    """Zhong et al.'s procedure, one triple at a time with .backward(), over all p³ triples."""
    p = 5
    task = modular_addition(p)
    model = transformer(alpha=0.7, d_model=8, n_heads=2).build(task, 1).double()
    total = []
    for a in range(p):
        for b in range(p):
            for c in range(p):
                emb = model.embed(torch.tensor([[a, b]])).detach().requires_grad_(True)
                model.forward_from_embeddings(emb)[0, c].backward()
                ga, gb = emb.grad[0, 0], emb.grad[0, 1]
                total.append(float(ga @ gb / (ga.norm() * gb.norm())))
    assert gradient_symmetricity(model, task) == pytest.approx(np.mean(total), abs=1e-10)
    sample = gradient_symmetricity(model, task, n_triples=20, seed=3)
    assert min(total) - 1e-9 <= sample <= max(total) + 1e-9
    assert sample == gradient_symmetricity(model, task, n_triples=20, seed=3)


def test_gradient_symmetricity_errors():
    task = modular_addition(5, encoding="one_hot")
    with pytest.raises(TypeError, match="TokenTransformer"):
        gradient_symmetricity(mlp().build(task, 0), task)
    tokens = modular_addition(5)
    model = transformer(d_model=8, n_heads=2).build(tokens, 0)
    with pytest.raises(ValueError, match="n_triples"):
        gradient_symmetricity(model, tokens, n_triples=0)
    with pytest.raises(ValueError, match="modular_addition"):
        gradient_symmetricity(model, boolean())


class TableModel(nn.Module):
    """Logits looked up from a fixed (p², p) table by row; inputs are the one-hot [e_a; e_b]."""

    def __init__(self, table: torch.Tensor, p: int) -> None:
        super().__init__()
        self.table, self.p = table, p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = x[:, : self.p].argmax(1) * self.p + x[:, self.p :].argmax(1)
        return self.table[rows]


@pytest.mark.parametrize("p", [7, 11])
def test_distance_irrelevance_extremes(p):
    task = modular_addition(p, encoding="one_hot")
    a, b = operands(task)
    gen = torch.Generator().manual_seed(0)
    by_distance = torch.randn(p, generator=gen)[(a - b) % p]
    by_sum = torch.randn(p, generator=gen)[(a + b) % p]
    for q, expected in ((by_distance, 0.0), (by_sum, 1.0)):
        table = torch.zeros(p * p, p)
        table[torch.arange(p * p), task.labels] = q
        assert distance_irrelevance(TableModel(table, p), task) == pytest.approx(
            expected, abs=1e-12
        )
    with pytest.raises(MechequivError, match="constant"):
        distance_irrelevance(TableModel(torch.zeros(p * p, p), p), task)


def test_fourier_spectrum_finds_planted_frequencies():
    p = 13
    t = np.arange(p)[:, None]
    e = np.cos(2 * np.pi * 3 * t / p + np.array([[0.3, 1.1]])) + 0.0 * t
    spec = fourier_spectrum(e)
    assert spec.key == (3,)
    assert spec.power[2] == pytest.approx(1.0)
    mix = np.hstack([np.sin(2 * np.pi * 2 * t / p), 0.5 * np.cos(2 * np.pi * 5 * t / p)])
    spec = fourier_spectrum(torch.tensor(mix), coverage=0.99)
    assert spec.key == (2, 5)
    assert sum(spec.power) == pytest.approx(1.0)
    assert spec.power[1] == pytest.approx(0.8) and spec.power[4] == pytest.approx(0.2)
    rng = random.Random(0)
    noise = np.array([[rng.gauss(0, 1) for _ in range(64)] for _ in range(p)])
    assert len(fourier_spectrum(noise).key) >= 4
    assert json.loads(json.dumps(spec.to_dict()))["key"] == [2, 5]


def test_fourier_errors():
    with pytest.raises(ValueError, match="coverage"):
        fourier_spectrum(np.ones((5, 2)), coverage=0.0)
    with pytest.raises(ValueError, match=r"\(p, D\)"):
        fourier_spectrum(np.ones(5))
    with pytest.raises(MechequivError, match="constant"):
        fourier_spectrum(np.ones((5, 2)))


def test_number_embeddings_of_each_architecture():
    tokens = modular_addition(5, distinct_b_tokens=True)
    tr = transformer(d_model=8, n_heads=2).build(tokens, 0)
    e = number_embeddings(tr, tokens)
    assert np.array_equal(e[:, 8:], tr.embed.weight[5:10].detach().double().numpy())
    onehot = modular_addition(5, encoding="one_hot")
    m = mlp(hidden=(6,)).build(onehot, 0)
    assert np.array_equal(
        number_embeddings(m, onehot)[:, :6], m[0].weight[:, :5].T.detach().double().numpy()
    )
    with pytest.raises(TypeError, match="expected a TokenTransformer"):
        number_embeddings(nn.Linear(10, 5), onehot)


def test_mechanism_labels_of_an_untrained_model():
    task = modular_addition(5)
    labels = mechanism_labels(transformer(d_model=8, n_heads=2).build(task, 0), task)
    assert labels.kind is None  # not trained: no mechanism to name
    assert -1.0 <= labels.gradient_symmetricity <= 1.0
    assert json.loads(json.dumps(labels.to_dict()))["kind"] is None
