from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from mechequiv.identifiability import GATES, candidate_algorithms

from . import brute

ROWS = np.array(list(itertools.product((0, 1), repeat=2)))


def test_xor_family_is_the_reference_list():
    # the 56 formulas printed by the reference demo notebook (demo_xor.ipynb), in its order,
    # written with * = AND and + = OR
    expected = (Path(__file__).parent / "reference_xor_formulas.txt").read_text().split()
    got = [
        str(a).replace("∧", "*").replace("∨", "+")
        for a in candidate_algorithms(GATES["XOR"], max_depth=3)
    ]
    assert got == expected


@pytest.mark.parametrize("gate", sorted(GATES))
def test_every_candidate_computes_the_target(gate):
    algs = candidate_algorithms(GATES[gate], max_depth=2)
    assert algs
    for a in algs:
        assert [brute.evaluate(a.formula, r, {}) for r in ROWS] == list(GATES[gate])


def test_variables_merge_not_with_its_child():
    first = candidate_algorithms(GATES["XOR"], max_depth=3)[0]
    assert str(first) == "¬(A∧B)∧(A∨B)"
    assert first.variable_names() == ("¬(A∧B)", "A∨B")
    with_input_not = next(
        a for a in candidate_algorithms(GATES["XOR"], 3) if str(a) == "¬((A∧B)∧B)∧¬(¬A∧¬B)"
    )
    assert with_input_not.variable_names() == ("¬((A∧B)∧B)", "A∧B", "¬(¬A∧¬B)", "¬A", "¬B")


def test_depth_zero_and_one():
    assert [str(a) for a in candidate_algorithms((0, 0, 1, 1), 0)] == ["A"]
    and_algs = candidate_algorithms(GATES["AND"], 1)
    assert [str(a) for a in and_algs] == ["A∧B", "¬(¬A∨¬B)"]
    assert and_algs[0].variables == ()
    assert and_algs[1].variable_names() == ("¬A", "¬B")
    assert candidate_algorithms(GATES["XOR"], 1) == ()


def test_bad_truth_tables():
    with pytest.raises(ValueError, match="2\\*\\*n bits"):
        candidate_algorithms((0, 1, 1), 2)
    with pytest.raises(ValueError, match="2\\*\\*n bits"):
        candidate_algorithms((0, 2, 1, 0), 2)
    with pytest.raises(ValueError, match="max_depth"):
        candidate_algorithms((0, 1, 1, 0), -1)
