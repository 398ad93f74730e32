from __future__ import annotations

import pytest

from mechequiv.identifiability import as_mlp, audit, boolean_task, candidate_algorithms
from mechequiv.identifiability.alignment import (
    count_mappings,
    input_pairs,
    list_mappings,
    patched_bits,
    variable_locations,
)

from . import brute

XOR = boolean_task("XOR")


def test_pair_conventions():
    assert input_pairs(4, "forward") == [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)]
    assert len(input_pairs(4, "both")) == 12
    with pytest.raises(ValueError, match="pairs must be one of"):
        input_pairs(4, "random")


@pytest.mark.parametrize("key", [(2, 3), (3, 0), (3, 2)])
@pytest.mark.parametrize("pairs", ["forward", "both"])
def test_minimal_mappings_match_exhaustive_search(xor_nets, key, pairs):
    model = xor_nets[key]
    net = as_mlp(model)
    x = XOR.inputs.astype(float)
    pair_list = input_pairs(4, pairs)
    bits = patched_bits(net, x, pair_list)
    algs = candidate_algorithms(XOR.targets[:, 0], 3)
    # the exhaustive search is slow: every algorithm at k=2, every fourth at k=3
    total = 0
    for alg in algs[:: 1 if key[0] == 2 else 4]:
        expected = brute.minimal_mappings(model, XOR.inputs, alg, pair_list)
        locs = variable_locations(alg, XOR.inputs, pair_list, bits)
        assert count_mappings(locs) == len(expected), str(alg)
        listed = {m.locations for m in list_mappings(alg, locs)}
        assert listed == set(expected)
        total += len(expected)
    if pairs == "forward":
        assert total > 0


def test_no_variable_algorithm_has_one_empty_mapping():
    task = boolean_task("AND")
    net = [([[1.0, 1.0]], [-1.0]), ([[1.0]], [0.0])]
    report = audit(net, task, keep_lists=True, where_then_what=False, max_depth=1)
    assert report.n_algorithms_tested == 2
    assert report.algorithms[0] == "A∧B"
    assert report.mappings_per_algorithm[0] == 1
    assert report.mappings[0].locations == ()
