"""The pool-member bootstrap: pool members are resampled, so a small pool's intervals reflect
that it is a sample of the implementation set."""

from __future__ import annotations

import numpy as np
import pytest
from torch import nn

from mechequiv.equivalence import Retrained, congruity
from mechequiv.equivalence.samplers import Draw
from mechequiv.equivalence.stats import bootstrap_intervals, member_weights


def _simulated_pool(rng: np.random.Generator, members: int, n: int):
    """Indicators of a pair whose implementation set has member-level effects: member m of each
    pool makes its anchor's own implementation closer with its own probability p_m ~ Beta(2, 2)
    (population mean 1/2, the true rate); a pool holds ``members`` of them."""
    p1, p2 = rng.beta(2, 2, members), rng.beta(2, 2, members)
    src = rng.integers(0, members, size=(n, 2))
    prob = np.stack([(p1[src[:, 0]] + p2[src[:, 1]]) / 2] * 2, axis=1)
    return (rng.random((n, 2)) < prob).astype(float), src


def test_hierarchical_intervals_cover_the_population_rate():
    rng = np.random.default_rng(0)
    covered = {"rounds": 0, "pool": 0}
    sims = 150
    for _ in range(sims):
        ind, src = _simulated_pool(rng, 3, 40)
        for name, sources in (("rounds", None), ("pool", src)):
            lo, hi = bootstrap_intervals(ind, rng, 400, 0.95, sources)["rate_1"]
            covered[name] += lo <= 0.5 <= hi
    rate = {k: v / sims for k, v in covered.items()}
    # rounds alone treat 40 draws from 3 members as 40 independent ones: far below 95%
    assert rate["pool"] >= 0.85 and rate["pool"] >= rate["rounds"] + 0.1, rate


def test_weights_keep_rounds_of_picked_members_only():
    src = np.array([[0, 0], [0, 1], [1, 0], [1, 1], [2, 2]] * 4)
    w = member_weights(src, np.random.default_rng(1), 300)
    assert w.shape == (300, 20) and (w.sum(1) > 0).all()
    # round (2, 2) is weighted by the product of its members' multiplicities: sometimes absent
    last = w[:, 4]
    assert last.min() == 0.0 and last.max() >= 4.0
    assert np.array_equal(w[:, 4], w[:, 9])  # same members, same weight


def test_retrained_reports_its_member_and_congruity_uses_it(zoo):
    pool = zoo["rings"][:5]
    got = Retrained(pool).draw(pool[0], np.random.default_rng(0), exclude=(pool[1],))
    assert isinstance(got, Draw) and got.source in (2, 3, 4) and got.model is pool[got.source]
    assert Retrained(pool).sample(pool[0], np.random.default_rng(0), (pool[1],)) is got.model
    sampler = Retrained(pool, zoo["sectors"][:4])
    r = congruity(pool[0], zoo["sectors"][0], zoo["stimuli"][:60], n=12, sampler=sampler,
                  distance="procrustes")  # fmt: skip
    assert r.sources is not None and {s[0] for s in r.sources} <= {1, 2, 3, 4}
    assert {s[1] for s in r.sources} <= {1, 2, 3}


def test_retrained_recognises_copies_of_its_members():
    # Ray workers, pickle and deepcopy give new objects: matched by structure and weights
    import copy

    pool = [nn.Linear(3, 2) for _ in range(3)]
    sampler = Retrained(pool)
    rng = np.random.default_rng(0)
    got = sampler.draw(copy.deepcopy(pool[0]), rng, exclude=(copy.deepcopy(pool[1]),))
    assert got.model is pool[2] and got.source == 2
    with pytest.raises(ValueError, match="none of the Retrained groups"):
        sampler.draw(nn.Linear(3, 2), rng)
    twins = [pool[0], copy.deepcopy(pool[0])]
    with pytest.raises(ValueError, match="ambiguous"):
        Retrained(twins, pool[1:]).draw(copy.deepcopy(pool[0]), rng)
