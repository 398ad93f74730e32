"""Small MLPs trained in the tests: seeds of two recipes over the same inputs."""

from __future__ import annotations

import pytest
import torch
from torch import nn


def make_task(n: int, seed: int, kind: str) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 2, generator=g) * 2 - 1
    if kind == "rings":
        y = (x.norm(dim=1) * 4).floor().clamp_max(3).long()
    else:
        y = (
            ((torch.atan2(x[:, 1], x[:, 0]) + torch.pi) / (torch.pi / 2))
            .floor()
            .clamp_max(3)
            .long()
        )
    return x, y


def train_mlp(x, y, seed: int, hidden: int = 32, steps: int = 400) -> nn.Sequential:
    torch.manual_seed(seed)
    net = nn.Sequential(
        nn.Linear(2, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 4)
    )
    opt = torch.optim.Adam(net.parameters(), lr=2e-2)
    for _ in range(steps):
        opt.zero_grad()
        nn.functional.cross_entropy(net(x), y).backward()
        opt.step()
    return net.eval()


@pytest.fixture(scope="session")
def zoo():
    torch.set_num_threads(1)
    x, y = make_task(800, 0, "rings")
    _, z = make_task(800, 0, "sectors")
    rings = [train_mlp(x, y, s) for s in range(6)]
    sectors = [train_mlp(x, z, s) for s in range(5)]
    stimuli, _ = make_task(150, 1, "rings")
    return {"rings": rings, "sectors": sectors, "stimuli": stimuli}
