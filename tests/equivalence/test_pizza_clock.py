"""Congruity on the zoo's Pizza (attention rate 0) and Clock (rate 1) transformers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mechequiv.equivalence import (
    FourierModuleReprs,
    Retrained,
    SymmetryTransform,
    congruity,
    congruity_matrix,
)
from mechequiv.study.zoo_models import group_means
from mechequiv.zoo.presets import pizza_clock


@pytest.fixture(scope="module")
def zoos():
    torch.set_num_threads(1)
    zoos = pizza_clock(seeds=range(4), progress=False)
    sym = [lab.gradient_symmetricity for z in zoos.values() for lab in z.labels()]
    assert min(sym[:4]) > 0.9 > max(sym[4:])  # the zoo made what it says
    return zoos


GROUPS = ["pizza"] * 4 + ["clock"] * 4


def _means(scores: np.ndarray) -> tuple[float, float, float]:
    means = group_means(scores, GROUPS)
    return means["pizza vs pizza"], means["clock vs clock"], means["across"]


@pytest.mark.slow
def test_pizza_against_clock_scores_near_zero_on_fourier_modules(zoos):
    pizzas, clocks = zoos["pizza"].models(), zoos["clock"].models()
    task = zoos["pizza"].task
    m = congruity_matrix(pizzas + clocks, task, n=10, sampler=Retrained(pizzas, clocks),
                         reprs=FourierModuleReprs(task.n_outputs), progress=False)  # fmt: skip
    pizza, clock, across = _means(m.scores)
    assert across <= 0.1
    assert pizza >= 0.8 and clock >= 0.8
    group = np.array(GROUPS)
    across_pairs = group[:, None] != group[None, :]
    assert (m.ci_high[across_pairs] < 0.5).all()  # every Pizza-Clock pair, not just the mean
    assert m.results[(0, 4)].distinguishable and not m.results[(0, 1)].distinguishable


@pytest.mark.slow
def test_raw_residual_stream_separates_less(zoos):
    # Without the frequency quotient, seeds' different key frequencies dominate the distances.
    pizzas, clocks = zoos["pizza"].models(), zoos["clock"].models()
    m = congruity_matrix(pizzas + clocks, zoos["pizza"].task, n=10,
                         sampler=Retrained(pizzas, clocks), progress=False)  # fmt: skip
    pizza, clock, across = _means(m.scores)
    assert min(pizza, clock) > across + 0.1
    assert across > 0.3


@pytest.mark.slow
def test_symmetry_transformed_transformer_scores_one(zoos):
    # the positive control on a real transformer: a rotated, permuted copy is the same model
    clock = zoos["clock"].models()[0]
    copy = SymmetryTransform().sample(clock, np.random.default_rng(0))
    assert congruity(
        clock, copy, zoos["clock"].task, n=10, sampler=SymmetryTransform()
    ).score == pytest.approx(1.0)


@pytest.mark.slow
def test_pizza_attention_adds_and_clock_attention_multiplies(zoos):
    # In the canonical frame a Pizza's attention output (a function of E_a + E_b) has no energy
    # on the modes (±1, ±1); a Clock's, built from products of E_a and E_b, has some.
    task = zoos["pizza"].task
    p = task.n_outputs
    reprs = FourierModuleReprs(p, points=["blocks.0.attn"])

    def diagonal_share(model) -> float:
        f = np.fft.fft2(reprs(model, task.inputs).numpy().reshape(p, p, -1), axes=(0, 1))
        power = (np.abs(f) ** 2).sum(axis=2)
        return power[np.ix_([1, p - 1], [1, p - 1])].sum() / power.sum()

    assert max(diagonal_share(m) for m in zoos["pizza"].models()) < 1e-6
    assert min(diagonal_share(m) for m in zoos["clock"].models()) > 0.03
