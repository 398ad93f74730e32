from __future__ import annotations

import numpy as np
import pytest

from mechequiv.identifiability import as_mlp, boolean_task, count_interpretations, find_circuits
from mechequiv.identifiability.circuits import ablation_means
from mechequiv.identifiability.interpretations import binarizations

from . import brute

XOR = boolean_task("XOR")


@pytest.mark.parametrize("key", [(2, 3), (3, 0), (3, 2)])
def test_counts_match_explicit_enumeration(xor_nets, brute_xor_circuits, key):
    net = as_mlp(xor_nets[key])
    x, y = XOR.inputs.astype(float), XOR.targets[:, 0].astype(float)
    expected, _ = brute_xor_circuits[key]
    found, _ = find_circuits(net, x, y)
    means = ablation_means(net, x, "zero")
    # every circuit for k=2; an evenly spaced sample of 25 for k=3 (the brute force is slow)
    step = max(1, len(found) // 25)
    counts = []
    for c in found[::step]:
        k = (c.hidden, tuple(np.asarray(m, dtype=bool).tobytes() for m in c.edge_masks))
        nodes, edges, acts = expected[k]
        counts.append(count_interpretations(net, c, x, means))
        assert counts[-1] == brute.interpretations(nodes, edges, acts)
        assert (
            count_interpretations(net, c, x, means, "none")
            == brute.interpretations(nodes, edges, acts, "none")
            <= counts[-1]
        )
    assert len(counts) >= min(len(found), 20)
    assert max(counts) > 1


def test_binarizations_are_midpoint_thresholds():
    assert binarizations(np.array([0.3, 0.1, 0.3, 0.9])) == (0b1101, 0b1000)
    assert binarizations(np.array([1.0, 1.0, 1.0, 1.0])) == ()


def _single_path_net():
    # h = relu(a + b - 1) is AND; out = h: one circuit, one interpretation (AND, then identity)
    return as_mlp(
        [(np.array([[1.0, 1.0]]), np.array([-1.0])), (np.array([[1.0]]), np.array([0.0]))],
        activation=["relu", "identity"],
    )


def test_hand_built_known_count():
    task = boolean_task("AND")
    net = as_mlp(
        [
            (np.array([[1.0, 1.0], [1.0, 1.0]]), np.array([-1.0, -1.0])),
            (np.array([[1.0, 0.2]]), np.array([0.0])),
        ],
        activation=["relu", "identity"],
    )
    x, y = task.inputs.astype(float), task.targets[:, 0]
    (c,) = find_circuits(net, x, y)[0]
    assert count_interpretations(net, c, x, ablation_means(net, x, "zero")) == 1


def test_two_parent_xor_gate_is_banned_and_completions_count():
    # first layer: h0 = a, h1 = b (relu of the input); output = h0 + h1 - 2 relu(a+b-1) = XOR
    w1 = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    b1 = np.array([0.0, 0.0, -1.0])
    w2 = np.array([[1.0, 1.0, -2.0]])
    net = as_mlp([(w1, b1), (w2, np.zeros(1))], activation=["relu", "identity"])
    x, y = XOR.inputs.astype(float), XOR.targets[:, 0]
    found, _ = find_circuits(net, x, y, include_full=True)
    means = ablation_means(net, x, "zero")
    counts = {c.hidden: count_interpretations(net, c, x, means) for c in found}
    # with all three neurons: h0=A, h1=B, h2=AND; the output (XOR) over 3 parents sees 4 of 8
    # patterns: 2**4 completions, no ban for three parents
    assert counts[((0, 1, 2),)] == 16
    # only h0, h1 cannot reproduce XOR linearly, so no other circuit
    assert set(counts) == {((0, 1, 2),)}


def test_constant_neuron_is_left_out():
    # h1 has zero incoming weights: constant, so it has no gate and is nobody's parent.
    w1 = np.array([[1.0, 1.0], [0.0, 0.0]])
    b1 = np.array([-1.0, 0.5])
    w2 = np.array([[1.0, 0.1]])
    net = as_mlp([(w1, b1), (w2, np.zeros(1))], activation=["relu", "identity"])
    task = boolean_task("AND")
    x, y = task.inputs.astype(float), task.targets[:, 0]
    found, _ = find_circuits(net, x, y, include_full=True)
    means = ablation_means(net, x, "zero")
    counts = {c.hidden: count_interpretations(net, c, x, means) for c in found}
    assert counts == {((0,),): 1, ((0, 1),): 1}


def test_bad_completions(xor_nets):
    net = as_mlp(xor_nets[(2, 3)])
    x, y = XOR.inputs.astype(float), XOR.targets[:, 0]
    c = find_circuits(net, x, y, include_full=True)[0][0]
    with pytest.raises(ValueError, match="completions must be one of"):
        count_interpretations(net, c, x, ablation_means(net, x, "zero"), "some")
