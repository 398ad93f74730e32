from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mechequiv.equivalence import SymmetryTransform
from mechequiv.errors import MechequivError
from mechequiv.identifiability import (
    ExactEquivalence,
    as_mlp,
    audit,
    boolean_task,
    compare_classes,
    exact_equivalence,
    explanation_classes,
    train_mlp,
)
from mechequiv.identifiability.canonical import canonical_form
from mechequiv.identifiability.circuits import ablation_means
from mechequiv.identifiability.exact import interpretation_keys

XOR_ROWS = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)


def _or_and_net():
    """XOR = (A OR B) AND NOT (A AND B): h1 = A + B, h2 = A + B - 1, out = h1 - 2 h2."""
    return as_mlp(
        [(np.array([[1.0, 1.0], [1.0, 1.0]]), np.array([0.0, -1.0])), (np.array([[1.0, -2.0]]), np.array([0.0]))],
        "leaky_relu",
    )  # fmt: skip


def _nimp_net():
    """XOR = (A AND NOT B) OR (NOT A AND B): h1 = A - B, h2 = B - A, out = h1 + h2."""
    return as_mlp(
        [(np.array([[1.0, -1.0], [-1.0, 1.0]]), np.array([0.0, 0.0])), (np.array([[1.0, 1.0]]), np.array([0.0]))],
        "leaky_relu",
    )  # fmt: skip


def test_hand_built_networks_solve_xor():
    for net in (_or_and_net(), _nimp_net()):
        assert np.array_equal(np.rint(net.forward(XOR_ROWS)[-1][:, 0]), [0, 1, 1, 0])


def test_different_decompositions_have_different_algorithm_sets():
    r = exact_equivalence(_or_and_net(), _nimp_net(), "XOR", include_full=True)
    assert not r.equivalent
    # the OR/AND network aligns with the paper family's OR-AND-NAND formulas, the NIMP network
    # with none of them (the textbook (A∧¬B)∨(¬A∧B) is not in the family)
    assert set(r.algorithms_a) == {"¬(A∧B)∧(A∨B)", "¬((A∧B)∨¬(A∨B))"}
    assert r.algorithms_b == ()
    assert r.algorithms.jaccard == 0.0 and r.algorithms.shared == 0
    # same circuit graph (the full 2-2-1 network), different gates on it
    assert r.circuits.jaccard == 1.0
    assert r.interpretations.shared == 0
    # (OR, AND) and (AND, OR) on the two hidden neurons are one class up to relabelling
    assert r.interpretations.n_a == 1 and r.interpretations.n_b == 2


def test_same_decomposition_at_other_scales_is_equivalent():
    # hidden units rescaled by 3 and 0.5 (outgoing weights divided), then swapped
    w1 = np.array([[1.0, 1.0], [1.0, 1.0]]) * np.array([[0.5], [3.0]])
    b1 = np.array([-1.0, 0.0]) * np.array([0.5, 3.0])
    w2 = np.array([[-2.0 / 0.5, 1.0 / 3.0]])
    other = as_mlp([(w1[::-1], b1[::-1]), (w2[:, ::-1], np.array([0.0]))], "leaky_relu")
    r = exact_equivalence(_or_and_net(), other, "XOR", include_full=True)
    assert r.equivalent, r.summary()


@pytest.mark.parametrize("key", [(3, 0), (3, 2)])
def test_network_and_its_symmetry_transform_are_equivalent(xor_nets, key):
    model = xor_nets[key]
    copy = SymmetryTransform().sample(model, np.random.default_rng(7))
    r = exact_equivalence(model, copy, "XOR", names=("net", "copy"))
    assert r.equivalent, r.summary()
    assert r.circuits.n_a > 0 and r.interpretations.n_a > 0
    assert r.n_mappings_a == r.n_mappings_b
    for s in r.shared:
        assert s.shapes_a == s.shapes_b


def test_independent_seeds_differ_and_comparison_is_symmetric(xor_nets):
    a = explanation_classes(xor_nets[(3, 0)], "XOR", name="s0")
    b = explanation_classes(xor_nets[(3, 2)], "XOR", name="s2")
    ab, ba = compare_classes(a, b), compare_classes(b, a)
    assert not ab.equivalent
    for part in ("circuits", "interpretations", "algorithms", "alignments"):
        x, y = getattr(ab, part), getattr(ba, part)
        assert (x.n_a, x.n_b, x.shared) == (y.n_b, y.n_a, y.shared)
        assert 0.0 <= x.jaccard == y.jaccard <= 1.0
    assert ab.interpretations.jaccard < 1.0
    aa = compare_classes(a, a)
    assert aa.equivalent and aa.interpretations.shared == len(a.interpretations)


def test_interpretation_keys_enumerate_the_counted_interpretations(xor_nets):
    """Before deduplication, one key per consistent binarisation: the audit's DP count."""
    model = xor_nets[(3, 0)]
    task = boolean_task("XOR")
    report = audit(model, task, completions="none", keep_lists=True, what_then_where=False)
    net = as_mlp(model)
    means = ablation_means(net, XOR_ROWS, "zero")
    per_circuit = [len(interpretation_keys(net, c, XOR_ROWS, means)) for c in report.circuits]
    assert per_circuit == list(report.interpretations)
    assert sum(per_circuit) > len(report.circuits)


def test_serialisation_round_trip(xor_nets):
    r = exact_equivalence(xor_nets[(3, 0)], xor_nets[(3, 2)], "XOR")
    d = json.loads(json.dumps(r.to_dict()))
    back = ExactEquivalence.from_dict(d)
    assert back == r
    assert d["equivalent"] is False and d["criterion"] == r.criterion
    assert "interpretations" in d["definitions"] and d["settings"]["task_rows"][1] == [0, 1]
    assert "depend on that order" in d["settings"]["row_order_note"]
    assert "J(interpretations)" in repr(r) and "algorithms" in r.summary()
    with pytest.raises(AttributeError):
        r.name_a = "x"  # frozen


def test_bad_input_is_refused(xor_nets):
    model = xor_nets[(3, 0)]
    with pytest.raises(TypeError, match="names"):
        exact_equivalence(model, model, "XOR", names=("a",))
    with pytest.raises(TypeError, match="unknown setting"):
        exact_equivalence(model, model, "XOR", completions="all")
    with pytest.raises(ValueError, match="max_interpretations"):
        explanation_classes(model, "XOR", max_interpretations=-1)
    with pytest.raises(MechequivError, match="interpretation classes to enumerate"):
        explanation_classes(model, "XOR", max_interpretations=3)
    deep = train_mlp("XOR", (3, 3, 3), seed=0).model
    with pytest.raises(ValueError, match="max_depth"):
        exact_equivalence(model, deep, "XOR")
    a = explanation_classes(model, "XOR")
    b = explanation_classes(model, "XOR", pairs="both")
    with pytest.raises(ValueError, match="different settings"):
        compare_classes(a, b)
    with pytest.raises(TypeError, match="ExplanationClasses"):
        compare_classes(a, model)


# ---------------------------------------------------------------------------------------------
# canonical forms: invariant under relabelling, and equal only for isomorphic circuits


@st.composite
def layered(draw, max_width: int = 3, labels: int = 2):
    n_inputs = 2
    widths = [*draw(st.lists(st.integers(1, max_width), min_size=1, max_size=2)), 1]
    labs, pars, prev = [], [], n_inputs
    for w in widths:
        labs.append([draw(st.integers(0, labels - 1)) for _ in range(w)])
        pars.append(
            [
                tuple(sorted(draw(st.sets(st.integers(0, prev - 1), min_size=1, max_size=prev))))
                for _ in range(w)
            ]
        )
        prev = w
    return n_inputs, labs, pars


def _relabel(labs, pars, perms):
    """Node ``i`` of layer ``l`` becomes node ``perms[l][i]``; the output layer stays."""
    new_labs, new_pars = [], []
    for l, (lab, par) in enumerate(zip(labs, pars, strict=True)):
        inv = np.argsort(perms[l])
        prev = perms[l - 1] if l else list(range(2))
        new_labs.append([lab[inv[k]] for k in range(len(lab))])
        new_pars.append([tuple(sorted(prev[p] for p in par[inv[k]])) for k in range(len(lab))])
    return new_labs, new_pars


def _isomorphic(g, h) -> bool:
    (_, la, pa), (_, lb, pb) = g, h
    if [len(x) for x in la] != [len(x) for x in lb]:
        return False
    for perms in itertools.product(*(itertools.permutations(range(len(x))) for x in la)):
        rl, rp = _relabel(la, pa, [list(p) for p in perms])
        if rl == [list(x) for x in lb] and rp == [list(x) for x in pb]:
            return True
    return False


@settings(max_examples=60, deadline=None)
@given(layered(), st.randoms(use_true_random=False))
def test_canonical_form_is_invariant_under_relabelling(g, rnd):
    n, labs, pars = g
    perms = [rnd.sample(range(len(x)), len(x)) for x in labs]
    rl, rp = _relabel(labs, pars, perms)
    assert canonical_form(n, rl, rp) == canonical_form(n, labs, pars)


@settings(max_examples=150, deadline=None)
@given(layered(max_width=3, labels=2), layered(max_width=3, labels=2))
def test_canonical_forms_are_equal_exactly_for_isomorphic_circuits(g, h):
    same = canonical_form(*g) == canonical_form(*h)
    assert same == _isomorphic(g, h)


def test_canonical_form_separates_a_shared_parent_from_twin_parents():
    # two unlabelled first-layer twins; second layer x, y both read u, versus x reads u, y reads v
    labs = [[0, 0], [0, 0], [0]]
    shared = [[(0, 1), (0, 1)], [(0,), (0, 1)], [(0, 1)]]
    split = [[(0, 1), (0, 1)], [(0,), (1,)], [(0, 1)]]
    assert canonical_form(2, labs, shared) != canonical_form(2, labs, split)
    assert canonical_form(2, labs, split) == canonical_form(
        2, labs, [[(0, 1), (0, 1)], [(1,), (0,)], [(0, 1)]]
    )


@settings(max_examples=150, deadline=None)
@given(layered(max_width=3, labels=2), st.randoms(use_true_random=False))
def test_canonical_forms_separate_near_misses(g, rnd):
    """A relabelled copy with one parent set or label changed: equal forms exactly when the
    change happens to leave an isomorphic circuit (checked by brute force)."""
    n, labs, pars = g
    perms = [rnd.sample(range(len(x)), len(x)) for x in labs]
    rl, rp = _relabel(labs, pars, perms)
    l = rnd.randrange(len(rl))
    i = rnd.randrange(len(rl[l]))
    if rnd.random() < 0.5:
        rl[l][i] = 1 - rl[l][i]
    else:
        prev = n if l == 0 else len(rl[l - 1])
        options = [tuple(p for p in range(prev) if (s >> p) & 1) for s in range(1, 2**prev)]
        rp[l][i] = rnd.choice(options)
    h = (n, rl, rp)
    assert (canonical_form(*g) == canonical_form(*h)) == _isomorphic(g, h)
