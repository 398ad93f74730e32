"""Small MLPs trained in the tests: seeds of two recipes over the same inputs."""

from __future__ import annotations

import pytest
import torch

from mechequiv.demo import toy_task, train_toy_mlp


@pytest.fixture(scope="session")
def zoo():
    torch.set_num_threads(1)
    x, y = toy_task(800, 0, "rings")
    _, z = toy_task(800, 0, "sectors")
    rings = [train_toy_mlp(x, y, s, hidden=32, steps=400, lr=2e-2) for s in range(6)]
    sectors = [train_toy_mlp(x, z, s, hidden=32, steps=400, lr=2e-2) for s in range(5)]
    stimuli, _ = toy_task(150, 1, "rings")
    return {"rings": rings, "sectors": sectors, "stimuli": stimuli}
