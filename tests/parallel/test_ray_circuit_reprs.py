"""The label-free circuit configuration (``circuit_congruity_setup``: resample ablation outside
each model's circuit, or the one-point set, and one ``CircuitReprs``) on the Ray backend: the
same scores as in-process, and a run resumed from its results file (local instance, 2 CPUs)."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from mechequiv.equivalence import (
    Component,
    OnePointSet,
    ResampleAblation,
    circuit_congruity_setup,
    congruity,
    congruity_matrix,
    discover_congruity_circuit,
    neurons,
)
from tests.equivalence.circuit_models import random_mlp, with_unread_units

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def setup():
    x = torch.randn(128, 4, generator=torch.Generator().manual_seed(0))
    plain, other = random_mlp(0), random_mlp(1)
    side = with_unread_units(plain)  # plain's function, plus 3 units nothing reads
    models = [plain, side, other]
    # over the hidden units (what compare_models' "circuit-reprs" does for an MLP)
    circuits = [discover_congruity_circuit(m, x, neurons(m, x, "1")) for m in models]
    samplers, reprs = circuit_congruity_setup(models, circuits, x)
    return models, circuits, samplers, reprs, x


def test_circuit_configuration_on_ray_equals_in_process_and_resumes(backend, setup, tmp_path):
    models, circuits, samplers, reprs, x = setup
    # both kinds of sampler travel: plain's circuit is all of it, side's leaves the unread units
    assert circuits[1].nodes == tuple(Component("1", u) for u in range(6))
    assert [type(s) for s in samplers] == [OnePointSet, ResampleAblation, OnePointSet]
    kw = {"n": 10, "n_boot": 200, "sampler": samplers, "reprs": reprs, "progress": False}
    local = congruity_matrix(models, x, **kw)
    path = tmp_path / "congruity.json"
    remote = congruity_matrix(models, x, backend=backend, results_path=str(path), **kw)
    assert remote.to_dict() == local.to_dict()
    assert len(json.loads(path.read_text())["results"]) == 6
    # what matters: the unread side computation is not told apart, another network is
    same, diff = remote.results[0, 1], remote.results[0, 2]
    assert same.score == 1.0 and not same.distinguishable
    assert diff.score == 0.0 and diff.distinguishable
    assert all(remote.results[i, i].score == 1.0 for i in range(3))
    # a resumed run reads the pairs from the file: drop two, they alone are recomputed (on Ray)
    stored = json.loads(path.read_text())
    for key in ("0,2", "1,1"):
        del stored["results"][key]
    path.write_text(json.dumps(stored))
    resumed = congruity_matrix(models, x, backend="ray", results_path=str(path), **kw)
    assert resumed.to_dict() == local.to_dict()
    assert len(json.loads(path.read_text())["results"]) == 6


def _congruity_task(a: nn.Module, b: nn.Module, x: torch.Tensor, samplers, reprs) -> dict:
    return congruity(a, b, x, n=10, n_boot=200, sampler=samplers, reprs=reprs).to_dict()


def test_models_and_reprs_serialised_apart_are_matched(backend, setup):
    """As Ray task arguments, each model and the reprs are serialised on their own: the
    models the worker sees are not the objects the reprs was made with."""
    models, _, samplers, reprs, x = setup
    task = ray.remote(num_cpus=1)(_congruity_task)
    pairs = [(0, 1), (0, 2)]
    futures = [task.remote(models[i], models[j], x, (samplers[i], samplers[j]), reprs)
               for i, j in pairs]  # fmt: skip
    for (i, j), got in zip(pairs, ray.get(futures), strict=True):
        want = congruity(models[i], models[j], x, n=10, n_boot=200,
                         sampler=(samplers[i], samplers[j]), reprs=reprs)  # fmt: skip
        assert got == want.to_dict()
