from __future__ import annotations

import numpy as np
import pytest
import torch

from mechequiv.errors import MechequivError
from mechequiv.identifiability import as_mlp, boolean_task, count_candidates, find_circuits
from mechequiv.identifiability.circuits import ablation_means, covering_matrices

from . import brute

XOR = boolean_task("XOR")


@pytest.mark.parametrize(
    "widths", [(2, 1, 1), (2, 3, 1), (2, 2, 2, 1), (2, 3, 3, 1), (2, 2, 3, 1), (2, 2, 2, 2, 1)]
)
def test_candidate_count_matches_enumeration(widths):
    assert count_candidates(widths) == sum(1 for _ in brute.candidates(widths))


def test_candidate_counts_of_the_paper_and_filter():
    assert [count_candidates((2, k, k, 1)) for k in (2, 3, 4, 5)] == [
        20,
        3_000,
        1_067_648,
        1_247_432_400,
    ]
    assert count_candidates((2, 4, 4, 1), min_node_sparsity=0.2) == 168_672
    # strictly above 0.3 keeps at most 6 of 10 neurons (the reference's `<=` skip)
    assert count_candidates((2, 5, 5, 1), min_node_sparsity=0.3) == 1_092_035
    assert count_candidates((2, 3, 3, 1), min_node_sparsity=0.4) == sum(
        1 for _ in brute.candidates((2, 3, 3, 1), 0.4)
    )


@pytest.mark.parametrize("p,q", [(1, 1), (2, 3), (3, 2), (3, 3)])
def test_covering_matrices(p, q):
    assert covering_matrices(p, q) == len(brute.covering_masks(q, p))


def _keys(circuits):
    return {
        (c.hidden, tuple(np.asarray(m, dtype=bool).tobytes() for m in c.edge_masks))
        for c in circuits
    }


@pytest.mark.parametrize("key", [(2, 3), (3, 0), (3, 2)])
@pytest.mark.parametrize("ablation", ["zero", "mean"])
def test_accepted_circuits_match_brute_force(xor_nets, brute_xor_circuits, key, ablation):
    model = xor_nets[key]
    x, y = XOR.inputs.astype(float), XOR.targets[:, 0].astype(float)
    net = as_mlp(model)
    if ablation == "mean":
        means = [torch.as_tensor(m) for m in ablation_means(net, x, "mean")]
        expected, n = brute.accepted_circuits(model, x, y, means=means)
    else:
        expected, n = brute_xor_circuits[key]
    found, n_candidates = find_circuits(net, x, y, ablation=ablation)
    assert n_candidates == n
    assert _keys(found) == set(expected)
    assert len(found) == len(expected) > 0


def test_sparsity_filter_and_full_node_set(xor_nets):
    model = xor_nets[(3, 0)]
    x, y = XOR.inputs.astype(float), XOR.targets[:, 0].astype(float)
    net = as_mlp(model)
    expected, _ = brute.accepted_circuits(model, x, y, min_node_sparsity=0.4)
    found, n = find_circuits(net, x, y, min_node_sparsity=0.4)
    assert _keys(found) == set(expected)
    assert n == count_candidates(net.widths, min_node_sparsity=0.4)
    with_full, n_full = find_circuits(net, x, y, include_full=True)
    assert n_full == count_candidates(net.widths, include_full=True)
    assert any(c.hidden == ((0, 1, 2), (0, 1, 2)) for c in with_full)


def _and_net(w_second: float):
    # h0 = h1 = relu(a + b - 1) (exactly AND); out = 1.0 h0 + w_second h1 (+ bias)
    w1 = np.array([[1.0, 1.0], [1.0, 1.0]])
    b1 = np.array([-1.0, -1.0])
    if w_second == 0.2:
        w2, b2 = np.array([[1.0, 0.2]]), np.array([0.0])
    else:
        w2, b2 = np.array([[0.5, 0.5]]), np.array([0.25])
    return as_mlp([(w1, b1), (w2, b2)], activation=["relu", "identity"])


def test_hand_built_unique_circuit():
    task = boolean_task("AND")
    net = _and_net(0.2)
    found, n = find_circuits(net, task.inputs.astype(float), task.targets[:, 0])
    assert n == 2 * 1 * 1  # one neuron kept (2 ways), its two input edges, its output edge
    assert [c.hidden for c in found] == [((0,),)]
    assert found[0].edge_masks[0].tolist() == [[True, True], [False, False]]


def test_hand_built_two_circuits():
    task = boolean_task("AND")
    found, _ = find_circuits(_and_net(0.5), task.inputs.astype(float), task.targets[:, 0])
    assert sorted(c.hidden for c in found) == [((0,),), ((1,),)]


def test_refuses_too_many_candidates_with_the_number():
    net = as_mlp(
        torch.nn.Sequential(
            torch.nn.Linear(2, 5),
            torch.nn.LeakyReLU(),
            torch.nn.Linear(5, 5),
            torch.nn.LeakyReLU(),
            torch.nn.Linear(5, 1),
        )
    )
    x, y = XOR.inputs.astype(float), XOR.targets[:, 0]
    with pytest.raises(MechequivError, match="1,247,432,400 candidate circuits"):
        find_circuits(net, x, y, max_candidates=10**6)


def test_bad_ablation_and_multi_output():
    net = as_mlp([(np.ones((2, 2)), np.zeros(2)), (np.ones((2, 2)), np.zeros(2))])
    x, y = XOR.inputs.astype(float), XOR.targets[:, 0]
    with pytest.raises(ValueError, match="single-output"):
        find_circuits(net, x, y)
    with pytest.raises(ValueError, match="ablation must be one of"):
        find_circuits(net.select_output(0), x, y, ablation="resample")
