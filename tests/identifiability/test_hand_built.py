"""Hand-built networks: each computes its designed gates, and the audit's verdict on designed
pairs is the documented one (reparametrisations equivalent; redundancy adds aligned algorithms;
decompositions that differ only by negated intermediate variables align the same algorithms)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from mechequiv.errors import MechequivError
from mechequiv.identifiability import (
    DESIGNS,
    REALISATIONS,
    Design,
    HandBuilt,
    Unit,
    boolean_task,
    compare_classes,
    explanation_classes,
    hand_built,
    hand_built_zoo,
)

ROWS = boolean_task("AND").inputs.astype(np.float64)


def _bits(table: int) -> list[int]:
    return [(table >> r) & 1 for r in range(4)]


@pytest.fixture(scope="module")
def zoo() -> dict[str, HandBuilt]:
    return {h.name: h for h in hand_built_zoo()}


@pytest.fixture(scope="module")
def classes(zoo):
    return {
        n: explanation_classes(h.net, h.task, include_full=True, name=n) for n, h in zoo.items()
    }


def test_every_realisation_computes_its_gates(zoo):
    assert len(zoo) == len(DESIGNS) * len(REALISATIONS)
    for h in zoo.values():
        acts = h.net.forward(ROWS)
        task = boolean_task(h.task)
        assert np.array_equal(np.rint(acts[-1][:, 0]), task.targets[:, 0]), h.name
        for l, tables in enumerate(h.gates):
            assert len(tables) == acts[l + 1].shape[1]
            for i, table in enumerate(tables):
                on = np.array(_bits(table), dtype=bool)
                v = acts[l + 1][:, i]
                assert v[on].min() > v[~on].max(), (h.name, l, i)
        # the torch module computes the same function
        out = h.model()(torch.as_tensor(ROWS)).detach().numpy()
        np.testing.assert_allclose(out, acts[-1], atol=1e-12)


def test_designed_gates_are_the_named_ones():
    h = hand_built("XOR or-nand-l2")
    a, b = ROWS[:, 0].astype(int), ROWS[:, 1].astype(int)

    def table(bits: np.ndarray) -> int:
        return int(sum(1 << r for r, v in enumerate(bits) if v))

    assert h.gates[0] == (table(a), table(b), table(a & b))
    assert h.gates[1] == (table(a | b), table(1 - (a & b)))
    # redundancy and idle neurons widen each hidden layer by one, keeping the gates
    assert hand_built("XOR or-nand-l2", "redundant").hidden_widths == (4, 3)
    idle = hand_built("XOR or-nand-l2", "idle")
    assert idle.gates[0][-1] == table(1 - a) and not idle.net.weights[1][:, -1].any()
    # permuted: the same multiset of gates, in another order
    p = hand_built("XOR or-nand-l2", "permuted", seed=3)
    assert sorted(p.gates[0]) == sorted(h.gates[0]) and p.gates != h.gates


def test_round_trip_and_bad_input():
    h = hand_built("OR nimp", "mixed", seed=1)
    back = HandBuilt.from_dict(h.to_dict())
    assert back.gates == h.gates and back.name == h.name
    for w, w2 in zip(h.net.weights, back.net.weights, strict=True):
        np.testing.assert_array_equal(w, w2)
    with pytest.raises(ValueError, match="unknown design"):
        hand_built("XOR nope")
    with pytest.raises(ValueError, match="unknown realisation"):
        hand_built("AND l1", "shuffled")
    with pytest.raises(TypeError, match="design must be"):
        hand_built(3)  # type: ignore[arg-type]
    assert [h.realisation for h in hand_built_zoo("AND", ("base", "idle"))][:2] == ["base", "idle"]
    with pytest.raises(ValueError, match="no design for task"):
        hand_built_zoo(("IMP",))
    broken = Design(
        "broken", "AND", "A∧B",
        ((Unit("A∧B", (1.0, 1.0), -1.0),), (Unit("A∧B", (1.0,), 0.0),), (Unit("x", (-1.0,), 0.0),)),
    )  # fmt: skip
    with pytest.raises(MechequivError, match="rounded output"):
        hand_built(broken)


def test_reparametrisations_are_exactly_equivalent(classes):
    for design in DESIGNS:
        for r1, r2 in itertools.combinations(("base", "permuted", "biased"), 2):
            r = compare_classes(classes[f"{design} | {r1}"], classes[f"{design} | {r2}"])
            assert r.equivalent, (design, r1, r2, r)


def test_redundant_neurons_add_aligned_algorithms(classes):
    for design in DESIGNS:
        base = set(classes[f"{design} | base"].algorithms)
        for real in ("redundant", "idle", "mixed"):
            wide = classes[f"{design} | {real}"]
            assert base <= set(wide.algorithms), (design, real)
            assert not compare_classes(classes[f"{design} | base"], wide).equivalent
        if base:  # every design that aligns something aligns more once a neuron is duplicated
            assert base < set(classes[f"{design} | redundant"].algorithms), design


def test_designed_xor_decompositions(classes):
    def cmp(d1: str, d2: str, real: str = "base"):
        return compare_classes(classes[f"XOR {d1} | {real}"], classes[f"XOR {d2} | {real}"])

    # OR∧NAND with OR as a count in layer 1 vs NOT(AND ∨ NOR): different gates on the same
    # graph, yet the same aligned algorithms (a variable and its negation are interchangeable)
    r = cmp("or-nand-l1", "not-and-or-nor")
    assert r.circuits.jaccard == 1.0 and r.interpretations.jaccard < 1.0
    assert r.algorithms.jaccard == 1.0 and r.algorithms.n_a == 2 and not r.equivalent
    # (A∧¬B)∨(¬A∧B) aligns nothing of the paper's family; OR∧NAND aligns its formula
    r = cmp("or-nand-l2", "nimp-or")
    assert r.algorithms.n_b == 0 and "¬(A∧B)∧(A∨B)" in r.algorithms_a
    assert r.interpretations.shared == 0
    # the same decomposition with OR in layer 2 (from copies of A and B) aligns more formulas
    r = cmp("or-nand-l1", "or-nand-l2")
    assert set(r.algorithms_a) < set(r.algorithms_b)


def test_and_decompositions(classes):
    # AND in layer 1 vs AND in layer 2 of copies: same formula, different aligned sets
    r = compare_classes(classes["AND l1 | base"], classes["AND l2 | base"])
    assert "A∧B" in r.algorithms_a and "A∧B" in r.algorithms_b and r.algorithms.jaccard < 1.0
    # copies of A, B vs their negations: the audit cannot tell them apart by algorithms
    r = compare_classes(classes["AND l2 | base"], classes["AND de-morgan | base"])
    assert r.algorithms.jaccard == 1.0 and r.interpretations.jaccard < 1.0
