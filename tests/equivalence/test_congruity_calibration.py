"""Congruity's per-direction statistics: opposite one-sided results are caught and flagged,
equivalent pairs are not flagged more often than the test's level, old results still read."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from mechequiv import measures as M
from mechequiv.equivalence import (
    CongruityResult,
    SymmetryTransform,
    congruity,
    hidden_representations,
)
from mechequiv.equivalence.stats import direction_tests, holm, sign_test
from mechequiv.zoo.models._transformer import TokenTransformer


class Point(nn.Module):
    """A 'model' whose representation is one number, so the distances are set by hand."""

    def __init__(self, value: float) -> None:
        super().__init__()
        self.register_buffer("value", torch.tensor([value], dtype=torch.float64))


def point_reprs(model: Point, inputs: torch.Tensor) -> torch.Tensor:
    return model.value.expand(inputs.shape[0], 1)


def gap(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a[0, 0] - b[0, 0]).abs())


class Around:
    """Implementations of any model: Points near ``centre`` (not near the model itself)."""

    def __init__(self, centre: float) -> None:
        self.centre = centre

    def sample(self, model, rng, exclude=()):
        return Point(self.centre + 0.05 * rng.uniform(-1, 1))


def test_opposite_one_sided_directions_are_distinguishable_and_flagged():
    # h1 = 0 with implementations near 1; h2 = 1.5 with implementations near 3. From h1 its own
    # implementation (about 1) is always closer than h2's (about 3); from h2 its own (about
    # 1.5 away) is always farther than h1's (about 0.5 away). Summed, s/n = 1: the old verdict
    # was "score 1.000 [1, 1], not distinguishable".
    r = congruity(Point(0.0), Point(1.5), torch.zeros(4, 1), n=20,
                  sampler=(Around(1.0), Around(3.0)), distance=gap, reprs=point_reprs)  # fmt: skip
    assert r.rate_1 == 1.0 and r.rate_2 == 0.0
    assert r.score == 1.0  # the paper's score is kept, and it hides the difference
    assert r.p_value_1 == pytest.approx(0.5**20) and r.p_value_2 == 1.0
    assert r.p_value == pytest.approx(2 * 0.5**20)  # Holm over the two directions
    assert r.distinguishable and r.discordant
    assert (r.rate_1_low, r.rate_1_high, r.rate_2_low, r.rate_2_high) == (1.0, 1.0, 0.0, 0.0)
    text = repr(r)
    assert "DISCORDANT" in text and "model 1 1.00 [1.00, 1.00]" in text and "Holm" in text
    back = CongruityResult.from_dict(json.loads(json.dumps(r.to_dict())))
    assert back == r


def test_one_sided_difference_is_distinguishable_but_not_discordant():
    # h1 = 0, its implementations near 0.1; h2 = 1, its implementations near 1.9. From h1 its
    # own are always closer; from h2 its own (about 0.9 away) and h1's (about 0.9 away) are a
    # coin flip: a real one-sided difference, not a discordant one.
    r = congruity(Point(0.0), Point(1.0), torch.zeros(4, 1), n=20,
                  sampler=(Around(0.1), Around(1.9)), distance=gap, reprs=point_reprs)  # fmt: skip
    assert r.rate_1 == 1.0 and 0.2 <= r.rate_2 <= 0.8
    assert r.distinguishable and not r.discordant


def test_direction_tests_match_scipy_and_holm():
    from scipy.stats import binomtest

    ind = np.array([[1, 0], [1, 0.5], [1, 0], [0, 0], [1, 1], [1, 0]], dtype=float)
    t = direction_tests(ind, 0.05)
    assert t["p_value_1"] == pytest.approx(binomtest(5, 6, 0.5, alternative="greater").pvalue)
    assert t["p_value_2"] == pytest.approx(binomtest(1, 5, 0.5, alternative="greater").pvalue)
    assert sign_test(ind[:, 1], "less") == pytest.approx(
        binomtest(1, 5, 0.5, alternative="less").pvalue
    )
    assert t["p_value"] == pytest.approx(min(1.0, 2 * t["p_value_1"]))
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert sign_test(np.full(5, 0.5)) == 1.0  # ties only: no evidence


def test_results_written_before_per_direction_statistics_still_read():
    old = {  # a result as congruity_matrix stored it before (pooled p, no per-direction keys)
        "score": 1.0, "ci_low": 1.0, "ci_high": 1.0, "n": 4, "rate_1": 1.0, "rate_2": 0.0,
        "p_value": 0.59, "distinguishable_z": False,
        "distances": {"d11": [1.0] * 4, "d12": [3.0] * 4, "d22": [1.5] * 4, "d21": [0.5] * 4},
        "distance": "gap", "reprs": "point_reprs", "cross": "implementation", "ties": "half",
        "tie_atol": 1e-5, "level": 0.95, "seed": 0, "rejected_1": 0, "rejected_2": 0,
        "distinguishable": False,
    }  # fmt: skip
    r = CongruityResult.from_dict(old)
    assert r.score == 1.0 and r.p_value_1 == pytest.approx(0.5**4)
    assert r.p_value == pytest.approx(2 * 0.5**4) and r.rate_2_high == 0.0


def _positive_control_flags(model, stimuli, seeds: int, n: int, **kw) -> list[bool]:
    flags = []
    for seed in range(seeds):
        copy = SymmetryTransform(**kw).sample(model, np.random.default_rng(1000 + seed))
        r = congruity(model, copy, stimuli, n=n, sampler=SymmetryTransform(**kw), seed=seed)
        flags.append(r.distinguishable or r.discordant)
    return flags


# 20 seeds at level 0.95: a calibrated test flags one on average; three or more has p = 0.08.


@pytest.mark.slow
def test_positive_control_on_a_zoo_mlp_is_calibrated(zoo):
    # rescaled units: the copy's representation is genuinely different, the draws exchangeable
    flags = _positive_control_flags(zoo["rings"][0], zoo["stimuli"][:80], 20, 10)
    assert sum(flags) <= 2


def test_positive_control_on_exact_copies_is_calibrated(zoo):
    # permuted units (an MLP) and a rotated residual stream (a float32 transformer): distances
    # are zero up to rounding, so every comparison must come out a tie
    assert sum(_positive_control_flags(zoo["rings"][0], zoo["stimuli"], 20, 6, rescale=False)) <= 2
    torch.manual_seed(0)
    model = TokenTransformer(13, 2, 13, d_model=32, n_heads=4, n_layers=1).eval()  # float32
    tokens = torch.randint(0, 13, (120, 2), generator=torch.Generator().manual_seed(1))
    assert sum(_positive_control_flags(model, tokens, 20, 6)) <= 2


def test_function_preserving_copies_of_zoo_models_are_at_rounding_level(zoo):
    rng = np.random.default_rng(0)
    mlp, x = zoo["rings"][0], zoo["stimuli"]
    permuted = SymmetryTransform(rescale=False).sample(mlp, rng)
    r1, r2 = hidden_representations(mlp, x), hidden_representations(permuted, x)
    assert M.repr_distance_bounds(r1, r2).upper <= 1e-6
    torch.manual_seed(0)
    model = TokenTransformer(13, 2, 13, d_model=32, n_heads=4, n_layers=2).eval()  # float32
    tokens = torch.randint(0, 13, (150, 2), generator=torch.Generator().manual_seed(1))
    rotated = SymmetryTransform(rescale=False).sample(model, rng)
    h1, h2 = hidden_representations(model, tokens), hidden_representations(rotated, tokens)
    assert M.repr_distance_bounds(h1, h2).upper <= 1e-6


def test_comparisons_within_the_certified_accuracy_are_ties():
    from mechequiv.measures import CertifiedDistance

    def certified(width: float):
        def dist(a: torch.Tensor, b: torch.Tensor) -> CertifiedDistance:
            v = gap(a, b)
            return CertifiedDistance(v, max(v - width, 0.0), v)

        return dist

    kw = {"n": 12, "sampler": (Around(1.0), Around(3.0)), "reprs": point_reprs, "tie_atol": 0.0}
    sharp = congruity(Point(0.0), Point(1.5), torch.zeros(4, 1), distance=certified(0.0), **kw)
    assert sharp.rate_1 == 1.0 and sharp.rate_2 == 0.0  # brackets apart: decided
    # brackets 3 wide overlap: the solver cannot tell these distances apart, so every
    # comparison is a tie, whatever the values say
    vague = congruity(Point(0.0), Point(1.5), torch.zeros(4, 1), distance=certified(3.0), **kw)
    assert vague.rate_1 == 0.5 and vague.rate_2 == 0.5 and not vague.distinguishable
    assert vague.distances["d11_bounds"][0][0] == 0.0
    assert CongruityResult.from_dict(vague.to_dict()) == vague


def test_repr_distance_results_carry_brackets(zoo):
    r = congruity(zoo["rings"][0], zoo["rings"][1], zoo["stimuli"][:40], n=1,
                  sampler=SymmetryTransform())  # fmt: skip
    for key in ("d11", "d12", "d22", "d21"):
        for v, (lo, hi) in zip(r.distances[key], r.distances[f"{key}_bounds"], strict=True):
            assert lo <= v == hi
