"""Congruity on the zoo's Pizza (attention rate 0) and Clock (rate 1) transformers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mechequiv.equivalence import Retrained, SymmetryTransform, congruity, congruity_matrix
from mechequiv.zoo.presets import pizza_clock


@pytest.mark.slow
def test_same_recipe_scores_higher_than_pizza_against_clock():
    torch.set_num_threads(1)
    zoos = pizza_clock(seeds=range(4), progress=False)
    pizzas, clocks = zoos["pizza"].models(), zoos["clock"].models()
    sym = [lab.gradient_symmetricity for z in zoos.values() for lab in z.labels()]
    assert min(sym[:4]) > 0.9 > max(sym[4:])  # the zoo made what it says
    task = zoos["pizza"].task
    m = congruity_matrix(pizzas + clocks, task, n=10, sampler=Retrained(pizzas, clocks),
                         progress=False)  # fmt: skip
    s = m.scores
    group = np.array([0] * 4 + [1] * 4)
    same = (group[:, None] == group[None, :]) & ~np.eye(8, dtype=bool)
    assert s[same].mean() > s[group[:, None] != group[None, :]].mean() + 0.1
    # the positive control on a real transformer: a rotated, permuted copy is the same model
    copy = SymmetryTransform().sample(clocks[0], np.random.default_rng(0))
    assert congruity(clocks[0], copy, task, n=10).score == pytest.approx(1.0)
