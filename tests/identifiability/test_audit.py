from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from mechequiv.errors import MechequivError
from mechequiv.identifiability import (
    GATES,
    IdentifiabilityReport,
    as_mlp,
    audit,
    boolean_task,
    candidate_algorithms,
    estimate_candidates,
    make_mlp,
    paper_min_node_sparsity,
    plot_counts,
    study_widths,
    train_mlp,
)
from mechequiv.identifiability.alignment import input_pairs

from . import brute

XOR = boolean_task("XOR")


def test_report_fields_and_serialisation(xor_nets):
    report = audit(xor_nets[(3, 0)], "XOR", keep_lists=True, name="net")
    assert isinstance(report, IdentifiabilityReport)
    assert report.n_circuits == len(report.interpretations) == len(report.circuits) > 0
    assert report.n_interpretations == sum(report.interpretations)
    assert report.n_candidates == 3000 and report.n_algorithms_tested == 56
    assert report.n_mappings == len(report.mappings) == sum(report.mappings_per_algorithm)
    assert report.n_algorithms == len(report.algorithms)
    d = json.loads(json.dumps(report.to_dict()))
    assert d["n_interpretations"] == report.n_interpretations
    assert len(d["circuits"]) == report.n_circuits and len(d["mappings"]) == report.n_mappings
    assert "3,000 candidates" in report.summary()
    assert "circuits=" in repr(report) and "net" in repr(report)
    with pytest.raises(AttributeError):
        report.name = "other"  # frozen


def test_strategies_can_be_skipped(xor_nets):
    r = audit(xor_nets[(2, 3)], "XOR", what_then_where=False)
    assert r.n_mappings is None and r.n_circuits is not None
    r = audit(xor_nets[(2, 3)], "XOR", where_then_what=False)
    assert r.n_circuits is None and r.n_algorithms_tested == 56
    assert "what-then-where" in r.summary() and "where-then-what" not in r.summary()


def test_deep_network_matches_brute_force():
    model = train_mlp("IMP", (2, 2, 2), seed=1).model
    task = boolean_task("IMP")
    x, y = task.inputs.astype(float), task.targets[:, 0].astype(float)
    report = audit(model, task, keep_lists=True, max_depth=3)
    expected, n = brute.accepted_circuits(model, x, y)
    assert report.n_candidates == n and report.n_circuits == len(expected) > 0
    by_key = {
        (c.hidden, tuple(np.asarray(m, dtype=bool).tobytes() for m in c.edge_masks)): count
        for c, count in zip(report.circuits, report.interpretations, strict=True)
    }
    assert by_key == {k: brute.interpretations(*v) for k, v in expected.items()}
    counts = dict(zip(report.algorithms, report.mappings_per_algorithm, strict=True))
    for alg in candidate_algorithms(task.targets[:, 0], 3)[::3]:
        n_min = len(brute.minimal_mappings(model, task.inputs, alg, input_pairs(4, "forward")))
        assert counts.get(str(alg), 0) == n_min


def _permuted(model, perms):
    """Copy of a 2-hidden-layer model with hidden units permuted."""
    new = make_mlp([model[0].in_features, model[0].out_features, model[2].out_features, 1])
    new.load_state_dict(model.state_dict())
    with torch.no_grad():
        lins = [new[0], new[2], new[4]]
        for l, p in enumerate(perms):
            p = torch.as_tensor(p)
            lins[l].weight.copy_(lins[l].weight[p])
            lins[l].bias.copy_(lins[l].bias[p])
            lins[l + 1].weight.copy_(lins[l + 1].weight[:, p])
    return new


@given(st.permutations(range(3)), st.permutations(range(3)), st.sampled_from([0, 2]))
def test_invariant_under_hidden_unit_permutation(xor_nets, p1, p2, seed):
    model = xor_nets[(3, seed)]
    a = audit(model, "XOR")
    b = audit(_permuted(model, (p1, p2)), "XOR")
    assert sorted(a.interpretations) == sorted(b.interpretations)
    assert a.n_candidates == b.n_candidates
    assert a.algorithms == b.algorithms
    assert a.mappings_per_algorithm == b.mappings_per_algorithm


def test_pair_convention_both_is_stricter(xor_nets):
    for model in xor_nets.values():
        fwd = audit(model, "XOR", where_then_what=False)
        both = audit(model, "XOR", where_then_what=False, pairs="both")
        assert set(both.algorithms) <= set(fwd.algorithms)


def test_multi_output_network_audited_per_output():
    task = boolean_task(["AND", "OR"])
    trained = train_mlp(task, (3, 3), seed=0)
    assert trained.converged
    with pytest.raises(ValueError, match="pass output=i"):
        audit(trained.model, task)
    r0 = audit(trained.model, task, output=0, what_then_where=False)
    assert r0.widths == (2, 3, 3, 1) and "output 0" in r0.name


def test_errors(xor_nets):
    untrained = make_mlp((2, 3, 3, 1), seed=0)
    with pytest.raises(MechequivError, match="does not solve task 'XOR'"):
        audit(untrained, "XOR")
    with pytest.raises(ValueError, match="must be Boolean"):
        boolean_task(np.array([0, 1, 1, 0.5]))
    from mechequiv.identifiability import BooleanTask

    with pytest.raises(ValueError, match="must be Boolean"):
        BooleanTask(np.array([[0, 0], [0, 1], [1, 0], [1, 2]]), np.array([0, 1, 1, 0]))
    with pytest.raises(ValueError, match="takes 2 inputs but the task has 3"):
        audit(xor_nets[(2, 3)], boolean_task(lambda a, b, c: a ^ b ^ c, n_inputs=3))
    with pytest.raises(ValueError, match="is constant"):
        audit(xor_nets[(2, 3)], boolean_task(np.zeros(4)))
    with pytest.raises(ValueError, match="at least one hidden layer"):
        audit(torch.nn.Linear(2, 1), "XOR")
    with pytest.raises(ValueError, match="at most 62 task rows"):
        audit(xor_nets[(2, 3)], boolean_task(lambda *bits: sum(bits) % 2, n_inputs=6))
    with pytest.raises(ValueError, match="completions must be one of"):
        audit(xor_nets[(2, 3)], "XOR", completions="some")
    with pytest.raises(ValueError, match="pairs must be"):
        audit(xor_nets[(2, 3)], "XOR", pairs="all")
    with pytest.raises(TypeError, match="task must be"):
        audit(xor_nets[(2, 3)], 3)
    with pytest.raises(TypeError, match=r"expected nn\.Linear"):
        audit(
            torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Dropout(), torch.nn.Linear(2, 1)),
            "XOR",
        )


def test_too_wide_is_refused_with_the_count_unless_forced():
    wide = [
        (np.zeros((6, 2)), np.zeros(6)),
        (np.zeros((6, 6)), np.zeros(6)),
        (np.zeros((1, 6)), np.array([0.0])),
    ]
    n = estimate_candidates((2, 6, 6, 1))
    assert n == estimate_candidates(as_mlp(wide))
    # it refuses before touching the network (whose zero output does not even solve XOR)
    with pytest.raises(MechequivError, match=f"{n:,} candidate circuits"):
        audit(as_mlp(wide), "AND", what_then_where=False, max_candidates=10**6)
    deep = [(np.zeros((17, 2)), np.zeros(17)), (np.zeros((1, 17)), np.array([0.0]))]
    with pytest.raises(MechequivError, match="131,072 neuron sets"):
        audit(deep, "NOR", where_then_what=False)


def test_paper_filter_rule():
    assert paper_min_node_sparsity((3, 3)) is None
    assert paper_min_node_sparsity((4, 4)) == 0.2
    assert paper_min_node_sparsity((5, 5)) == 0.3


def test_width_study_and_plot():
    from matplotlib.figure import Figure

    study = study_widths("XOR", widths=(3,), seeds=[0])
    assert study.tried == {3: 1} and len(study.reports) == 1
    assert study.medians()[3]["converged"] == 1
    json.dumps(study.to_dict())
    assert "k  conv/tried" in study.summary()
    fig = study.plot()
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    with pytest.raises(ValueError, match="at least one report"):
        plot_counts([])


def test_trainer_is_deterministic(xor_nets):
    again = train_mlp("XOR", (3, 3), seed=0)
    for a, b in zip(
        again.model.state_dict().values(), xor_nets[(3, 0)].state_dict().values(), strict=True
    ):
        assert torch.equal(a, b)


def test_oversized_algorithm_search_is_refused_with_an_estimate(xor_nets):
    with pytest.raises(MechequivError, match=r"58,576,060 candidate formula skeletons.*hours"):
        audit(xor_nets[(2, 3)], "XOR", max_depth=5, where_then_what=False)
    with pytest.raises(MechequivError, match="max_skeletons=50"):
        audit(xor_nets[(2, 3)], "XOR", max_skeletons=50, where_then_what=False)


def test_paper_preset_applies_the_reference_filter():
    model = make_mlp((2, 4, 4, 1), seed=0)
    net = as_mlp(model)
    # an untrained network: only the settings and the refusal matter here
    with pytest.raises(MechequivError, match="does not solve"):
        audit(model, "XOR", preset="paper")
    assert estimate_candidates(net) == 1_067_648
    assert estimate_candidates(net, min_node_sparsity=paper_min_node_sparsity((4, 4))) == 168_672
    with pytest.raises(ValueError, match="fixes \\['min_node_sparsity'\\]"):
        audit(model, "XOR", preset="paper", min_node_sparsity=0.5)
    with pytest.raises(ValueError, match="preset must be one of"):
        audit(model, "XOR", preset="fast")


def test_paper_preset_matches_explicit_settings(xor_nets):
    model = xor_nets[(3, 0)]
    r = audit(model, "XOR", preset="paper")
    plain = audit(model, "XOR")
    assert r.settings["preset"] == "paper" and r.settings["min_node_sparsity"] is None
    assert (r.n_circuits, r.n_interpretations, r.n_mappings) == (
        plain.n_circuits,
        plain.n_interpretations,
        plain.n_mappings,
    )
    assert r.settings["task_rows"] == [[0, 0], [0, 1], [1, 0], [1, 1]]
    assert "row order" in r.summary()


@pytest.mark.slow
def test_each_output_of_a_two_output_network_equals_its_single_output_copy():
    task = boolean_task(["XOR", "NAND"])
    trained = train_mlp(task, (3, 3), seed=0)
    assert trained.converged
    net = as_mlp(trained.model)
    for i, gate in enumerate(("XOR", "NAND")):
        r = audit(trained.model, task, output=i)
        alone = audit(net.select_output(i), gate)
        assert r.interpretations == alone.interpretations and r.n_circuits > 0
        assert r.algorithms == alone.algorithms
        assert r.mappings_per_algorithm == alone.mappings_per_algorithm


@pytest.mark.parametrize("gate", ["NAND", "NOR", "NIMP", "OR"])
def test_other_gates_of_the_paper(gate):
    trained = next(t for t in (train_mlp(gate, (3, 3), seed=s) for s in range(8)) if t.converged)
    r = audit(trained.model, gate, keep_lists=True)
    assert r.n_circuits > 0 and r.n_interpretations >= r.n_circuits
    assert r.n_algorithms_tested == len(candidate_algorithms(boolean_task(gate).targets[:, 0], 3))
    for m in r.mappings:  # every mapped algorithm computes the gate
        table = m.algorithm.formula.table(boolean_task(gate).inputs)
        assert [(table >> row) & 1 for row in range(4)] == list(GATES[gate])
