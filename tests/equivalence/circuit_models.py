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


def rescaled_units(model: nn.Sequential, seed: int = 7) -> nn.Sequential:
    """An exact reparameterisation of a Linear-ReLU-Linear ``model``: hidden unit i scaled by
    ``c_i`` in [0.2, 5] (log-uniform) and its readout by ``1 / c_i`` (ReLU is positively
    homogeneous, so the function is unchanged)."""
    g = torch.Generator().manual_seed(seed)
    c = torch.exp((torch.rand(model[0].out_features, generator=g) * 2 - 1) * 1.6)
    m = nn.Sequential(*(type(layer)(*_args(layer)) for layer in model))
    m.load_state_dict(model.state_dict())
    with torch.no_grad():
        m[0].weight.mul_(c[:, None])
        m[0].bias.mul_(c)
        m[2].weight.div_(c[None, :])
    return m


def _args(layer: nn.Module) -> tuple[int, ...]:
    return (layer.in_features, layer.out_features) if isinstance(layer, nn.Linear) else ()
