"""A short, real comparison of small trained networks, printed as a table.

Three MLPs are trained here (no downloads): two seeds on one task and one on a different task
over the same inputs. Every representational measure compares their hidden layers, and the
functional measures compare their outputs. Same-task pairs should look more alike than
different-task pairs on most measures; where they do not, the measure's conventions explain why.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from mechequiv import measures
from mechequiv.zoo.ensemble import Optimiser, fit_ensemble, mean_cross_entropy
from mechequiv.zoo.models import MLP


@dataclass(frozen=True)
class DemoResult:
    """Scores for (same task, different seed) and (different task) pairs of trained MLPs."""

    same_task: dict[str, float]
    different_task: dict[str, float]
    accuracies: dict[str, float]


def toy_task(n: int, seed: int, kind: str) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` points uniform in [-1, 1]^2 labelled by ring (radius) or by quadrant (angle)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 2, generator=g) * 2 - 1
    r, a = x.norm(dim=1), torch.atan2(x[:, 1], x[:, 0])
    if kind == "rings":  # concentric rings: needs radius
        y = (r * 4).floor().clamp_max(3).long()
    else:  # angular sectors: needs angle
        y = ((a + torch.pi) / (torch.pi / 2)).floor().clamp_max(3).long()
    return x, y


def train_toy_mlp(
    x: torch.Tensor,
    y: torch.Tensor,
    seed: int,
    hidden: int = 64,
    steps: int = 600,
    lr: float = 1e-2,
) -> nn.Sequential:
    """A 2 -> hidden -> hidden -> 4 ReLU MLP trained full-batch with Adam (eval mode), on the
    one training loop (:func:`mechequiv.zoo.ensemble.fit_ensemble`)."""
    torch.manual_seed(seed)
    net = MLP(2, (hidden, hidden), 4, activation="relu")
    fit = fit_ensemble(
        [net],
        lambda step: (x.unsqueeze(0), y.unsqueeze(0)),
        mean_cross_entropy,
        steps,
        Optimiser("adam", lr=lr),
    )
    fit.load_into([net])
    return net.eval()


def _hidden_and_logits(net: nn.Sequential, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    with torch.no_grad():
        h = net[:4](x)
        return h, net[4](h)


def run_demo(n_train: int = 2000, n_eval: int = 1000, seed: int = 0) -> DemoResult:
    """Train the three networks and compare them with every registered measure."""
    xtr, ytr = toy_task(n_train, seed, "rings")
    _, ztr = toy_task(n_train, seed, "sectors")
    xev, yev = toy_task(n_eval, seed + 1, "rings")
    _, zev = toy_task(n_eval, seed + 1, "sectors")
    nets = {
        "rings/seed0": train_toy_mlp(xtr, ytr, seed),
        "rings/seed1": train_toy_mlp(xtr, ytr, seed + 1),
        "sectors/seed0": train_toy_mlp(xtr, ztr, seed),
    }
    outs = {k: _hidden_and_logits(v, xev) for k, v in nets.items()}
    acc = {
        k: float(
            (outs[k][1].argmax(1) == (zev if k.startswith("sectors") else yev)).double().mean()
        )
        for k in nets
    }

    def scores(a: str, b: str) -> dict[str, float]:
        (ha, la), (hb, lb) = outs[a], outs[b]
        rep = {name: measures.get(name)(ha, hb) for name in measures.names(functional=False)}
        fun = {name: measures.get(name)(la, lb) for name in measures.names(functional=True)}
        return rep | fun

    return DemoResult(
        scores("rings/seed0", "rings/seed1"), scores("rings/seed0", "sectors/seed0"), acc
    )


def demo_table_rows(result: DemoResult) -> list[tuple[str, str, str, str, str]]:
    """(measure, kind, same task, different task, separates?) rows for printing."""
    rows: list[tuple[str, str, str, str, str]] = []
    for name in measures.names():
        info = measures.get(name)
        same, diff = result.same_task[name], result.different_task[name]
        closer = same > diff if info.kind == "similarity" else same < diff
        rows.append((name, info.kind, f"{same:.4f}", f"{diff:.4f}", "yes" if closer else "no"))
    return rows
