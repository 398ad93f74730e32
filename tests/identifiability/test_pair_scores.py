"""Pair scores: a network and a hidden-unit permutation of it are exactly equivalent and
perfectly similar; scores and labels agree with the functions they come from; round trips."""

from __future__ import annotations

import numpy as np
import pytest

from mechequiv import measures
from mechequiv.identifiability.exact import compare_classes, explanation_classes
from mechequiv.identifiability.network import MLPNet, as_mlp
from mechequiv.identifiability.pair_scores import (
    PairScore,
    calibration_of,
    hidden_activations,
    predictor_scores,
    score_pairs,
)
from mechequiv.identifiability.tasks import as_task


def _permuted(net: MLPNet, perms: list[np.ndarray]) -> MLPNet:
    """The same function with the hidden units of layer l permuted by perms[l]."""
    w, b = list(net.weights), list(net.biases)
    for l, p in enumerate(perms):
        w[l], b[l] = w[l][p], b[l][p]
        w[l + 1] = w[l + 1][:, p]
    return MLPNet(tuple(w), tuple(b), net.activations)


@pytest.fixture(scope="module")
def pair_nets(xor_nets):
    """A trained width-2 network, a hidden-unit permutation of it, a trained width-3 one."""
    task = as_task("XOR")
    a, b = as_mlp(xor_nets[(2, 3)]), as_mlp(xor_nets[(3, 0)])
    perm = _permuted(a, [np.array([1, 0]), np.array([1, 0])])
    return task, [("a", a), ("a perm", perm), ("b", b)]


def test_a_permuted_copy_is_equivalent_and_perfectly_similar(pair_nets):
    task, nets = pair_nets
    classes = [(n, net, explanation_classes(net, task, name=n)) for n, net in nets]
    pairs = {(p.a, p.b): p for p in score_pairs(classes, task)}
    assert set(pairs) == {("a", "a perm"), ("a", "b"), ("a perm", "b")}
    same = pairs[("a", "a perm")]
    assert same.equivalent and same.widths == (2, 2)
    assert same.scores["linear_cka"] == pytest.approx(1.0, abs=1e-12)
    assert same.scores["-procrustes"] == pytest.approx(0.0, abs=1e-6)
    # the labels are compare_classes' verdicts; the scores the measures' values
    other = pairs[("a", "b")]
    r = compare_classes(classes[0][2], classes[2][2])
    assert other.equivalent == r.equivalent
    xa, xb = hidden_activations(nets[0][1], task), hidden_activations(nets[2][1], task)
    assert xa.shape == (4, 4) and other.widths == (2, 3) and not other.equivalent
    assert other.scores["linear_cka"] == measures.linear_cka(xa, xb)
    assert other.scores["-procrustes"] == -measures.procrustes(xa, xb)
    assert other.scores["linear_cka"] < 1 - 1e-6
    # without cross-width pairs only the same-width pair remains
    assert [(p.a, p.b) for p in score_pairs(classes, task, cross_width=False)] == [("a", "a perm")]


def test_constant_activations_have_no_score_and_are_left_out():
    x = np.ones((4, 3))
    y = np.arange(12.0).reshape(4, 3)
    assert predictor_scores(x, y) == {"linear_cka": None, "-procrustes": None}
    pairs = [PairScore("a", "b", (2, 2), True, True, {"linear_cka": None, "-procrustes": None}),
             PairScore("a", "c", (2, 2), False, False, {"linear_cka": 0.5, "-procrustes": -1.0})]  # fmt: skip
    d = calibration_of(pairs, "linear_cka", "equivalent", "seed pairs")
    assert d is not None and d.scores == (0.5,) and d.labels == (False,)
    assert calibration_of(pairs[:1], "linear_cka", "equivalent", "seed pairs") is None


def test_pair_scores_round_trip_and_refuse_bad_entries():
    p = PairScore("a", "b", (2, 3), False, True, {"linear_cka": 0.25, "-procrustes": None})
    assert PairScore.from_dict(p.to_dict(), "p") == p
    with pytest.raises(TypeError, match=r"p\['equivalent'\]: expected a boolean"):
        PairScore.from_dict(p.to_dict() | {"equivalent": 1}, "p")
    with pytest.raises(ValueError, match=r"p\['widths'\]"):
        PairScore.from_dict(p.to_dict() | {"widths": [2]}, "p")
    with pytest.raises(ValueError, match=r"p\['scores'\]\['linear_cka'\]"):
        PairScore.from_dict(p.to_dict() | {"scores": {"linear_cka": float("nan")}}, "p")
    with pytest.raises(ValueError, match="unknown label"):
        p.label("same")
