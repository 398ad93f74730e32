"""Trained XOR networks shared by the identifiability tests (trained once per session)."""

from __future__ import annotations

import pytest

from mechequiv.identifiability import train_mlp


@pytest.fixture(scope="session")
def xor_nets():
    """Converged XOR MLPs: {(k, seed): nn.Sequential} for widths 2 and 3."""
    nets = {}
    for k, seeds in ((2, (3,)), (3, (0, 2))):
        for seed in seeds:
            trained = train_mlp("XOR", (k, k), seed=seed)
            assert trained.converged, trained
            nets[(k, seed)] = trained.model
    return nets


@pytest.fixture(scope="session")
def brute_xor_circuits(xor_nets):
    """{(k, seed): (accepted circuits by brute force (zero ablation), candidate count)}."""
    from mechequiv.identifiability import boolean_task

    from . import brute

    task = boolean_task("XOR")
    x, y = task.inputs.astype(float), task.targets[:, 0].astype(float)
    return {key: brute.accepted_circuits(model, x, y) for key, model in xor_nets.items()}
