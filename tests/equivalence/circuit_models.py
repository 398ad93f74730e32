"""Small models with a known circuit, shared by the CircuitReprs, Ray and compare tests."""

from __future__ import annotations

import torch
from torch import nn


class SideBranch(nn.Module):
    """``out(relu(a(x)))``, plus a side computation ``tanh(side(x))`` that nothing reads: the
    analogue of a Tracr model running an unread distractor program next to its circuit."""

    def __init__(self, seed: int, side: bool = True) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.a, self.act_a = nn.Linear(4, 6), nn.ReLU()
        self.side, self.act_side = nn.Linear(4, 5), nn.Tanh()
        self.out = nn.Linear(6, 3)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=g))
        self.has_side = side

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.has_side:
            self.act_side(self.side(x))  # computed, varies with x, never read
        return self.out(self.act_a(self.a(x)))


def random_mlp(seed: int) -> nn.Sequential:
    """A random 4-6-3 ReLU MLP (standard normal weights): every hidden unit matters."""
    g = torch.Generator().manual_seed(seed)
    m = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 3))
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(torch.randn(p.shape, generator=g))
    return m


def with_unread_units(model: nn.Sequential, unread: int = 3, seed: int = 99) -> nn.Sequential:
    """``model``'s function computed by its hidden units, plus ``unread`` more that vary with
    the input but that nothing reads (zero readout weights): a side computation."""
    (first, act, last), g = model, torch.Generator().manual_seed(seed)
    width = first.out_features
    m = nn.Sequential(
        nn.Linear(first.in_features, width + unread),
        act,
        nn.Linear(width + unread, last.out_features),
    )
    with torch.no_grad():
        m[0].weight.copy_(
            torch.cat([first.weight, torch.randn(unread, first.in_features, generator=g)])
        )
        m[0].bias.copy_(torch.cat([first.bias, torch.randn(unread, generator=g)]))
        m[2].weight.zero_()
        m[2].weight[:, :width].copy_(last.weight)
        m[2].bias.copy_(last.bias)
    return m
