from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from mechequiv.identifiability import GATES, candidate_algorithms, count_skeletons

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


# ---------------------------------------------------------------------------------------------
# the depth-4 family, verified by an independent string-based brute force


def _keys(depth: int) -> list[str]:
    """Skeleton strings of depth exactly ``depth``, written directly from the family's rule."""
    if depth == 0:
        return ["A", "B"]
    strip = lambda k: k[1:-1] if k.startswith("(") else k  # noqa: E731
    return [
        f"({left}{op}{right})"
        for left in _keys(depth - 1)
        for d in range(depth)
        for right in _keys(d)
        if strip(left) < strip(right)
        for op in "*+"
    ]


def _parse(key: str):
    """Preorder node list of a skeleton string: ("var", name) or (op, left id, right id)."""
    nodes: list = []

    def parse(i: int) -> tuple[int, int]:
        me = len(nodes)
        if key[i] != "(":
            nodes.append(("var", key[i]))
            return me, i + 1
        nodes.append(None)
        left, i = parse(i + 1)
        op = key[i]
        right, i = parse(i + 1)
        nodes[me] = (op, left, right)
        return me, i + 1  # skip ")"

    parse(0)
    return nodes


def _evaluate(nodes, negated: set[int], row: tuple[int, int]) -> int:
    def value(i: int) -> int:
        n = nodes[i]
        v = row[0 if n[1] == "A" else 1] if n[0] == "var" else (
            value(n[1]) & value(n[2]) if n[0] == "*" else value(n[1]) | value(n[2])
        )  # fmt: skip
        return 1 - v if i in negated else v

    return value(0)


def _show(nodes, negated: set[int], i: int = 0) -> str:
    n = nodes[i]
    s = n[1] if n[0] == "var" else (
        f"({_show(nodes, negated, n[1])}{'∧' if n[0] == '*' else '∨'}{_show(nodes, negated, n[2])})"
    )  # fmt: skip
    return "¬" + s if i in negated else s


def _skeleton_of(f) -> str:
    if f.op == "var":
        return "AB"[f.var]
    if f.op == "not":
        return _skeleton_of(f.children[0])
    sym = "*" if f.op == "and" else "+"
    return f"({_skeleton_of(f.children[0])}{sym}{_skeleton_of(f.children[1])})"


def test_skeleton_counts_match_the_listed_family():
    listed = [len(_keys(d)) for d in range(5)]
    assert listed == [2, 2, 6, 78, 7566]
    for d in range(5):
        assert count_skeletons(d) == sum(listed[: d + 1])
    assert count_skeletons(5) == 58_576_060  # counted, never listed
    with pytest.raises(ValueError, match="too many to list"):
        count_skeletons(5, n_vars=3)


@pytest.mark.slow
@pytest.mark.parametrize("gate", ["XOR", "IMP"])
def test_depth_four_family_matches_brute_force(gate):
    """Every 150th depth-4 skeleton: the package's formula is the first NOT placement (fewest
    NOTs, then lexicographic over preorder ids) found by trying placements one by one."""
    target = list(GATES[gate])
    family = candidate_algorithms(GATES[gate], max_depth=4)
    by_skeleton = {_skeleton_of(a.formula): str(a) for a in family}
    rows = [(0, 0), (0, 1), (1, 0), (1, 1)]
    checked = 0
    for key in _keys(4)[::150]:
        nodes = _parse(key)
        found = None
        for size in range(4):
            for neg in itertools.combinations(range(len(nodes)), size):
                if [_evaluate(nodes, set(neg), r) for r in rows] == target:
                    found = _show(nodes, set(neg))
                    break
            if found:
                break
        if found is None:  # needs more than 3 NOTs (or none works): the package must agree
            assert key not in by_skeleton or by_skeleton[key].count("¬") > 3
            continue
        expected = found[1:-1] if found.startswith("(") else found
        assert by_skeleton[key] == expected, key
        checked += 1
    assert checked >= 40
