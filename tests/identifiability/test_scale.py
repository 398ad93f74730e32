"""Counting at scale: per-layer mapping counts against brute force, estimates and budgets."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from mechequiv.errors import MechequivError
from mechequiv.identifiability import (
    AuditEstimate,
    audit,
    count_candidates,
    count_skeletons,
    estimate_audit,
)
from mechequiv.identifiability.alignment import count_mappings


def brute_count(locations):
    """Every choice of one location per variable, kept when same-layer sets are disjoint."""
    n = 0
    for choice in itertools.product(*locations):
        ok = all(
            la != lb or not (ca & cb) for (la, ca), (lb, cb) in itertools.combinations(choice, 2)
        )
        n += ok
    return n


def random_locations(rng):
    n_vars, n_layers, width = (int(rng.integers(lo, hi)) for lo, hi in ((1, 6), (1, 4), (2, 6)))
    return [
        [(int(rng.integers(n_layers)), int(rng.integers(1, 2**width))) for _ in range(k)]
        for k in rng.integers(1, 6, size=n_vars)
    ]


def test_per_layer_mapping_count_matches_brute_force():
    rng = np.random.default_rng(0)
    counts = []
    for _ in range(60):
        locations = random_locations(rng)
        counts.append(brute_count(locations))
        for method in ("auto", "joint", "per_layer"):
            assert count_mappings(locations, method) == counts[-1], (method, locations)
    assert 0 in counts and max(counts) > 10  # both kinds of case were exercised


def test_mapping_count_by_hand():
    # v2 = L0{0,1} would block both of v0's sets, so v2 = L1{0}; then v1 = L0{0}, v0 = L0{1}
    assert count_mappings([[(0, 1), (0, 2)], [(0, 1), (1, 1)], [(0, 3), (1, 1)]]) == 1
    # without v2: v0 in {L0{0}, L0{1}} x v1 in {L0{0}, L1{0}} minus the clash (L0{0}, L0{0})
    assert count_mappings([[(0, 1), (0, 2)], [(0, 1), (1, 1)]]) == 3


def test_mapping_count_edge_cases():
    assert count_mappings([]) == 1  # no intermediate variable: one empty mapping
    assert count_mappings([[(0, 1)], []]) == 0
    assert count_mappings([[(0, 1)], [(0, 1)]]) == 0  # the one neuron cannot serve both
    assert count_mappings([[(0, 1)], [(1, 1)]]) == 1  # same index, different layers


def test_mapping_count_is_exact_beyond_joint_search_size():
    # 7 variables, each free to sit on any single neuron of 3 layers of width 10: every mapping
    # is an injective choice of 7 of the 30 (layer, neuron) slots, perm(30, 7) of them; a joint
    # search over used neurons per layer would range over up to (2**10)**3 states
    width, layers, n_vars = 10, 3, 7
    locs = [[(l, 1 << j) for l in range(layers) for j in range(width)] for _ in range(n_vars)]
    expected = math.perm(layers * width, n_vars)
    assert count_mappings(locs, "per_layer") == expected == 10_260_432_000
    assert count_mappings(locs) == expected  # auto: the joint search gives up, per layer counts
    with pytest.raises(ValueError, match="method must be one of"):
        count_mappings(locs, "fast")


def test_estimate_counts_match_the_counters():
    est = estimate_audit((2, 4, 4, 1))
    assert est.n_candidates == count_candidates((2, 4, 4, 1)) == 1_067_648
    assert est.n_skeletons == count_skeletons(3) == 88
    assert est.n_neuron_sets == 2 * 15
    assert est.max_depth == 3
    deeper = estimate_audit((2, 3, 3, 3, 3, 1))  # depth 5 formulas
    assert deeper.n_skeletons == 58_576_060
    assert deeper.seconds > 3600 > est.seconds
    too_deep = estimate_audit((2, 3, 3, 3, 3, 3, 1))  # depth 6: not countable exactly
    assert too_deep.n_skeletons is None
    assert too_deep.n_skeletons_at_least == 58_576_060
    assert AuditEstimate.from_dict(est.to_dict()) == est
    only_circuits = estimate_audit((2, 4, 4, 1), what_then_where=False)
    assert only_circuits.seconds_formulas == 0 and only_circuits.seconds_circuits > 0
    wider = estimate_audit((2, 5, 5, 1))
    assert wider.seconds_circuits > 1000 * est.seconds_circuits  # 1.2e9 vs 1.1e6 candidates


@pytest.mark.parametrize("bad", [(2, 1), (2, 0, 1), ()])
def test_estimate_rejects_bad_widths(bad):
    with pytest.raises(ValueError, match="widths must be"):
        estimate_audit(bad)


def test_budget_refuses_before_work_with_the_estimate(xor_nets):
    model = xor_nets[(3, 0)]
    with pytest.raises(MechequivError, match=r"budget_s=1 s: .*3,000 candidate circuits"):
        audit(model, "XOR", budget_s=1, max_depth=5, max_skeletons=10**9)
    with pytest.raises(ValueError, match="budget_s must be a positive"):
        audit(model, "XOR", budget_s=0)
    small = audit(model, "XOR", budget_s=60)
    assert small.n_circuits == audit(model, "XOR").n_circuits


def test_auto_picks_the_cheaper_count_up_front():
    from mechequiv.identifiability import alignment

    # the perm(30, 7) case: a joint search could reach (2**10)**3 states, per layer is small
    locs = [[(l, 1 << j) for l in range(3) for j in range(10)] for _ in range(7)]
    costs = alignment.count_costs(locs)
    assert costs["per_layer"] < costs["joint"] / 100
    # two variables with two locations each: the joint search is a handful of steps
    tiny = alignment.count_costs([[(0, 1), (0, 2)], [(0, 1), (1, 1)]])
    assert tiny["joint"] < tiny["per_layer"]
    assert alignment.count_costs([[(0, 1)], []]) == {"joint": 0.0, "per_layer": 0.0}


def test_audit_refuses_before_counting_when_the_count_would_overrun(xor_nets, monkeypatch):
    from mechequiv.identifiability import alignment
    from mechequiv.identifiability._audit import audit

    net = xor_nets[(3, 0)]
    fits = audit(net, "XOR", where_then_what=False, budget_s=60)
    assert fits.n_mappings == 20  # seed 0 at width 3 (as counted without a budget)
    for unit in ("_SECONDS_PER_JOINT_STEP", "_SECONDS_PER_SHIFT", "_SECONDS_PER_ENTRY",
                 "_SECONDS_PER_CONVOLUTION_STEP"):  # fmt: skip
        monkeypatch.setattr(alignment, unit, 1.0)  # every count now looks like hours
    with pytest.raises(MechequivError, match=r"budget_s=60 s: counting the minimal mappings"):
        audit(net, "XOR", where_then_what=False, budget_s=60)
